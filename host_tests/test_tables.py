"""Table invariants over every cluster the firmware declares (style-anchors
§3.6): ids in range, names present and unique, types known, defaults
encodable, schemas complete."""
import pytest

from firmware.zcl import types as T
from firmware.zcl.frame import REST
from tools import zcl_host as Z

CLUSTERS = list(Z.CLUSTERS.values())


@pytest.mark.parametrize("cls", CLUSTERS, ids=lambda c: c.NAME)
def test_cluster_table(cls):
    assert 0 <= cls.ID <= 0xFFFF and cls.NAME.isidentifier()
    ids = [a[0] for a in cls.ATTRS]
    names = [a[1] for a in cls.ATTRS]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    for aid, name, t, access, default in cls.ATTRS:
        assert 0 <= aid < 0xFFF0, name
        assert T.info(t) is not None, name
        assert access & 0x01, name + " must be readable"
        assert T.check(t, default), name
    for table in (cls.RX, cls.TX):
        cids = [c[0] for c in table]
        assert len(set(cids)) == len(cids)
        for cid, name, schema in table:
            assert 0 <= cid <= 0xFF and name.isidentifier()
            assert isinstance(schema, tuple)
            seen_optional = False
            for fname, ft in schema:
                opt = fname.endswith("?")
                assert not (seen_optional and not opt), "optional fields must trail"
                seen_optional = seen_optional or opt
                assert ft == REST or isinstance(ft, tuple) or T.info(ft) is not None


def test_handlers_exist_for_every_received_command(tmp_path):
    from conftest import Bench
    b = Bench(str(tmp_path / "s"))
    for ep, cl in b.meter.zcl.clusters():
        for cid, name, _ in cl.RX:
            assert callable(getattr(cl, "on_" + name, None)), (cl.NAME, name)
