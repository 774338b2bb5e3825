# Differential: every cluster table of the meter as the ZCL engine sees it
# (zcl/cluster.py: ATTRS and RX/TX are packed text decoded on demand). For
# each cluster the script prints every attribute the AttrTable yields with
# its definition, a lookup of ids around each one, and every command by
# iteration, by id and by name. CPython and MicroPython must print the same.
# cluster_tables.py STORE_DIR
from common import make_meter, store_dir
from firmware.zcl.cluster import _find


def main():
    m = make_meter(store_dir())[0]
    for ep, cl in m.zcl.clusters():
        print("cluster", ep, cl.ID, cl.NAME, "server" if cl.SERVER else "client")
        n = 0
        for aid, a in cl.adefs.items():
            print(" attr", aid, repr(a), repr(cl.values.get(aid, "-")))
            assert cl.adefs.get(aid) == a and aid in cl.adefs
            for near in (aid - 1, aid + 1):
                if near not in cl.adefs:
                    print("  absent", near)
            n += 1
        print(" attrs", n, "rows", len(cl.ATTRS))
        for tag, table in (("rx", cl.RX), ("tx", cl.TX)):
            k = 0
            for c in table:
                print(" " + tag, repr(c))
                assert _find(table, 0, c[0]) == c and _find(table, 1, c[1]) == c
                k += 1
            print(" " + tag, "commands", k, len(table), repr(_find(table, 0, 0xEE)),
                  repr(_find(table, 1, "NoSuchCommand")))


main()
