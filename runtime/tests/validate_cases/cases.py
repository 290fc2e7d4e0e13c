"""The cases make.py records. A case: {name, kind, label?, map?, rules, value}
(`unset: True` leaves the field out)."""

CASES = []


def case(name, kind, rules, *values, **extra):
    for i, value in enumerate(values):
        CASES.append({"name": f"{name}/{i}", "kind": kind, "rules": rules, "value": value, **extra})


# Probe
for x in [1.1, 1.0, 0.0, -0.0, 1e300, 123456789.125, 1e-300, 5e-324, 3.4028234663852886e38, 0.1, 100.0, 1e15, 1e16, 1e17, 1e20, 1e21,1e22, 1.5e-5, 2.5e-7]:
    case("dc", "double", {"double": {"const": x}}, 7.0)
    case("fc", "float", {"float": {"const": x if abs(x) < 3e38 else 1.0}}, 7.0)
case("din", "double", {"double": {"in": [1.0, 2.5, -3.0]}}, 7.0)
case("fin", "float", {"float": {"in": [1.0, 2.5, 0.1]}}, 7.0)
case("nan", "double", {"double": {"gt": 1.0}}, "NaN")
case("nanin", "double", {"double": {"not_in": [1.0]}}, "NaN")
case("inf", "double", {"double": {"lt": 1.0, "finite": True}}, "Infinity")
case("u64", "uint64", {"uint64": {"in": ["18446744073709551615"]}}, "5")
case("i64", "int64", {"int64": {"in": ["-9223372036854775808"]}}, "5")
case("sin", "string", {"string": {"in": ["a\"b", "", "`x`", "ü"], "const": "q\"r"}}, "x")
case("bin", "bytes", {"bytes": {"in": ["/w==", ""], "prefix": "/w==", "contains": "AAE="}}, "eA==")
for d in ["-1.5s", "0s", "3600s", "0.5s", "-0.000000001s", "1.000000100s", "315576000000s"]:
    case("dur", "duration", {"duration": {"const": d}}, "7s")
for t in ["2020-01-01T00:00:00Z", "2020-01-01T00:00:00.123456789Z", "1970-01-01T00:00:00.100Z", "0001-01-01T00:00:00Z"]:
    case("ts", "timestamp", {"timestamp": {"const": t}}, "2021-01-01T00:00:00Z")
case("within", "timestamp", {"timestamp": {"within": "3600.5s"}}, "2021-01-01T00:00:00Z")
case("ltnow", "timestamp", {"timestamp": {"gt_now": True, "lt": "2020-01-01T00:00:00Z"}}, "2021-01-01T00:00:00Z")
case("dmix", "duration", {"duration": {"not_in": ["1s", "2.5s"]}}, "2.5s")
case("rep_f", "float", {"repeated": {"unique": True}}, [1.0, "NaN", "NaN"], label="repeated")
case("rep_m", "message", {"repeated": {"max_items": 1}}, [{"name": "ab"}, {"name": "ab"}], label="repeated")
case("mapnest", "", {"map": {"values": {"required": True}}}, {"k\"x": {"name": "a"}}, map=["string", "message"])
case("mapu", "", {"map": {"keys": {"uint32": {"gt": 2}}}}, {"1": 0}, map=["uint32", "int32"])
SHAPES = {}
SHAPE_VALUES = {}
