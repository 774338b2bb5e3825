# Differential: every cluster table of the meter as the ZCL engine sees it
# (zcl/cluster.py: ATTRS and RX/TX are packed text decoded on demand). For
# each cluster the script prints every attribute the AttrTable yields with
# its definition, a lookup of ids around each one, and every command by
# iteration, by id and by name. CPython and MicroPython must print the same.
# cluster_tables.py STORE_DIR
from common import make_meter, store_dir
from firmware.zcl.cluster import _find, AttrTable, attr_rows, cmd_rows, n_rows


def syntax():
    """Text the tables do not exercise: rows out of id order, blanks."""
    a = (" 0102 Aa UINT16 RWPND 0x1F;0001 Bb OCTSTR R 'x-y';\n 0FFF Cc UTC RD -;"
         "0003 Dd INT8 R 12 ;0002 Ee MAP32 RW 0xFFFFFFFF;")
    t = AttrTable(a, ((0x0200, 3, 2, "R%d", 0x23, 1),), (0xFFFD, "ClusterRevision", 0x21, 1, 1))
    print("syntax", n_rows(a), repr(list(attr_rows(a))))
    print("syntax", repr(list(t.items())), repr(t.get(0x0004)), repr(t.get(0x0203)))
    c = ("0A Get  Id:UINT32 Opt?:MAP8;\n  0B Put Items:[K:UINT8,V:OCTSTR]\n"
         "    Rest:REST; 0C Nothing;")
    print("syntax", n_rows(c), repr(list(cmd_rows(c))), repr(_find(c, 1, "Put")),
          repr(_find(c, 0, 0x0C)), repr(_find(c, 1, "Ge")), repr(_find(c, 0, 0x0D)))
    # types as ZCL data type ids in hex, as the firmware's tables write them
    a = "0102 Aa 21 RWPND 0x1F;0001 Bb 41 R 'x-y';0FFF Cc E2 RD -;0003 Dd 28 R 12;"
    c = "0A Get Id:23 Opt?:18; 0B Put Items:[K:20,V:41] Rest:REST; 0C Nothing;"
    print("codes", repr(list(attr_rows(a))), repr(list(cmd_rows(c))), repr(_find(c, 1, "Put")))


def main():
    m = make_meter(store_dir())[0]
    for ep, cl in m.zcl.clusters():
        print("cluster", ep, cl.ID, cl.NAME, "server" if cl.SERVER else "client")
        n = 0
        for aid, a in cl.adefs.items():
            print(" attr", aid, repr(a), repr("-" if a[3] & 0x10 else cl.stored(aid)))
            assert cl.adefs.get(aid) == a and aid in cl.adefs
            for near in (aid - 1, aid + 1):
                if near not in cl.adefs:
                    print("  absent", near)
            n += 1
        print(" attrs", n, "rows", n_rows(cl.ATTRS))
        for tag, table in (("rx", cl.RX), ("tx", cl.TX)):
            k = 0
            for c in cmd_rows(table):
                print(" " + tag, repr(c))
                assert _find(table, 0, c[0]) == c and _find(table, 1, c[1]) == c
                k += 1
            print(" " + tag, "commands", k, n_rows(table), repr(_find(table, 0, 0xEE)),
                  repr(_find(table, 1, "NoSuchCommand")))


syntax()
main()
