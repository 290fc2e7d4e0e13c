"""The cases make.py records. A case: {name, kind, label?, map?, rules, value}
(`unset: True` leaves the field out)."""

CASES = []


def case(name, kind, rules, *values, **extra):
    for i, value in enumerate(values):
        CASES.append({"name": f"{name}/{i}", "kind": kind, "rules": rules, "value": value, **extra})



# Strings: lengths count code points, bytes count UTF-8.
case("string.len", "string", {"string": {"len": 3}}, "abc", "ab", "日本語", "")
case("string.min_len", "string", {"string": {"min_len": 2}}, "", "a", "ab", "é", "👍👍")
case("string.max_len", "string", {"string": {"max_len": 2}}, "abc", "ab", "日本", "日本語")
case("string.len_bytes", "string", {"string": {"len_bytes": 3}}, "abc", "é", "日")
case("string.min_bytes", "string", {"string": {"min_bytes": 2}}, "é", "a", "")
case("string.max_bytes", "string", {"string": {"max_bytes": 2}}, "é", "日", "ab")
case("string.range", "string", {"string": {"min_len": 2, "max_len": 4, "min_bytes": 3}}, "ab", "abcde", "a")
case("string.const", "string", {"string": {"const": "abc"}}, "abc", "ab", "")
case("string.pattern", "string", {"string": {"pattern": "^[a-z]+\\d$"}}, "abc1", "abc", "abc١", "")
case("string.pattern_w", "string", {"string": {"pattern": "^\\w+$"}}, "ab_1", "é", "a b")
case("string.pattern_s", "string", {"string": {"pattern": "^a\\sb$"}}, "a b", "a\u00a0b", "a\tb")
case("string.pattern_class", "string", {"string": {"pattern": "^[\\d-]+$"}}, "1-2", "١")
case("string.prefix", "string", {"string": {"prefix": "ab"}}, "abc", "a", "")
case("string.suffix", "string", {"string": {"suffix": "é"}}, "café", "cafe")
case("string.contains", "string", {"string": {"contains": "mid"}}, "amidb", "mi")
case("string.not_contains", "string", {"string": {"not_contains": "x"}}, "abc", "axc")
case("string.in", "string", {"string": {"in": ["a", "b c", "ü"]}}, "a", "ü", "x", "")
case("string.not_in", "string", {"string": {"not_in": ["a", "b"]}}, "a", "c")
case("string.all", "string", {"string": {"min_len": 5, "prefix": "z", "suffix": "q", "in": ["zzzzq"]}}, "ab")

# Well-known formats.
case("string.email", "string", {"string": {"email": True}}, "a@b.com", "", "a", "a@", "@b.com", "a b@c.com", "a@b", "a@-b.com",
     "a@b-.com", "a.b+c@d.e", "a@b..com", "ü@b.com", "a@b.c0m", "<a@b.com>", "a@" + "b" * 64 + ".com", "a@b.com.")
case("string.hostname", "string", {"string": {"hostname": True}}, "example.com", "", "a", "a.b.c", "-a.com", "a-.com", "a_b.com",
     "example.com.", "1.2.3.4", "123", "a.123", "123.a", "a" * 64 + ".com", "a" * 63 + ".com", "A-Z.COM", "ex ample.com", "..", "a..b", "ü.com")
case("string.ip", "string", {"string": {"ip": True}}, "1.2.3.4", "", "::1", "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4.5", "fe80::1%eth0",
     "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "gggg::1", "fe80::1%", " 1.2.3.4", "[::1]", "1::2::3")
case("string.ipv4", "string", {"string": {"ipv4": True}}, "1.2.3.4", "", "::1", "0.0.0.0", "255.255.255.255", "1.2.3.04")
case("string.ipv6", "string", {"string": {"ipv6": True}}, "::1", "", "1.2.3.4", "::", "2001:db8::", "2001:0db8:0000::1", "::ffff:1.2.3.4", "fe80::1%25")
case("string.uri", "string", {"string": {"uri": True}}, "https://example.com", "", "example.com", "/path", "https://ex ample.com",
     "https://example.com/a?b=c#d", "mailto:a@b.com", "urn:isbn:123", "http://[::1]:80/", "http://[::1", "http://a:b@host:8080/p",
     "http://host:port/", "1http://a", "http://a/%zz", "http://a/%20", "http://a/ü", "http://%ff/", "http://%C3%A9/", "foo:", "http://[v1.x]/", "http://[fe80::1%25eth0]/", "http://a#b#c")
case("string.uri_ref", "string", {"string": {"uri_ref": True}}, "", "/path", "path/x", "a:b", "?q", "#f", "//host/p", "ex ample", "1a:b", "./a:b", "%zz")
case("string.address", "string", {"string": {"address": True}}, "example.com", "1.2.3.4", "::1", "", "-x", "1.2.3.256")
case("string.uuid", "string", {"string": {"uuid": True}}, "123e4567-e89b-12d3-a456-426614174000", "", "123E4567-E89B-12D3-A456-426614174000",
     "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g", "123e4567-e89b-12d3-a456-4266141740000")
case("string.tuuid", "string", {"string": {"tuuid": True}}, "123e4567e89b12d3a456426614174000", "", "123e4567-e89b-12d3-a456-426614174000", "123e4567e89b12d3a45642661417400")
case("string.ulid", "string", {"string": {"ulid": True}}, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "", "81ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAI", "01arz3ndektsv4rrffq69g5fav", "01ARZ3NDEKTSV4RRFFQ69G5FA")
case("string.host_and_port", "string", {"string": {"host_and_port": True}}, "example.com:80", "", "example.com", "1.2.3.4:65535", "1.2.3.4:65536",
     "[::1]:80", "::1:80", "[::1]", "a:080", "a:0", "a:", ":80", "[::1]:", "a:-1")
case("string.ip_with_prefixlen", "string", {"string": {"ip_with_prefixlen": True}}, "1.2.3.4/24", "", "::1/64", "1.2.3.4", "1.2.3.4/33", "1.2.3.4/024", "::1/129")
case("string.ipv4_with_prefixlen", "string", {"string": {"ipv4_with_prefixlen": True}}, "1.2.3.4/24", "::1/64")
case("string.ipv6_with_prefixlen", "string", {"string": {"ipv6_with_prefixlen": True}}, "1.2.3.4/24", "::1/64")
case("string.ip_prefix", "string", {"string": {"ip_prefix": True}}, "1.2.3.0/24", "1.2.3.4/24", "::/64", "::1/64", "")
case("string.ipv4_prefix", "string", {"string": {"ipv4_prefix": True}}, "1.2.3.0/24", "1.2.3.4/24", "0.0.0.0/0", "::/0")
case("string.ipv6_prefix", "string", {"string": {"ipv6_prefix": True}}, "2001:db8::/32", "2001:db8::1/32", "1.2.3.0/24")
case("string.protobuf_fqn", "string", {"string": {"protobuf_fqn": True}}, "a.b.C", "", ".a.b", "a..b", "1a", "_a.b_1")
case("string.protobuf_dot_fqn", "string", {"string": {"protobuf_dot_fqn": True}}, ".a.b", "a.b", ".", "")

# Bytes.
case("bytes.len", "bytes", {"bytes": {"len": 2, "min_len": 1, "max_len": 3}}, "", "YQ==", "YWI=", "YWJjZA==")
case("bytes.const", "bytes", {"bytes": {"const": "AAH/"}}, "AAH/", "AAE=")
case("bytes.pattern", "bytes", {"bytes": {"pattern": "^[a-z]+$"}}, "YWI=", "QUI=", "")
case("bytes.affixes", "bytes", {"bytes": {"prefix": "AA==", "suffix": "/w==", "contains": "AQI="}}, "AAEC/w==", "AQID", "")
case("bytes.in", "bytes", {"bytes": {"in": ["YQ==", "Yg=="], "not_in": ["Yw=="]}}, "YQ==", "Yw==", "")
case("bytes.ip", "bytes", {"bytes": {"ip": True}}, "AQIDBA==", "", "AQID", "AAAAAAAAAAAAAAAAAAAAAQ==")
case("bytes.ipv4", "bytes", {"bytes": {"ipv4": True}}, "AQIDBA==", "", "AAAAAAAAAAAAAAAAAAAAAQ==")
case("bytes.ipv6", "bytes", {"bytes": {"ipv6": True}}, "AQIDBA==", "", "AAAAAAAAAAAAAAAAAAAAAQ==")
case("bytes.uuid", "bytes", {"bytes": {"uuid": True}}, "AQIDBA==", "", "AAAAAAAAAAAAAAAAAAAAAQ==")

# Numbers of every kind, every range form.
INTS = ["int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"]
for k in INTS:
    case(f"{k}.const", k, {k: {"const": 5}}, 5, 6, 0)
    case(f"{k}.lt", k, {k: {"lt": 5}}, 4, 5, 6)
    case(f"{k}.lte", k, {k: {"lte": 5}}, 5, 6)
    case(f"{k}.gt", k, {k: {"gt": 5}}, 6, 5)
    case(f"{k}.gte", k, {k: {"gte": 5}}, 5, 4)
    case(f"{k}.gt_lt", k, {k: {"gt": 2, "lt": 5}}, 3, 2, 5)
    case(f"{k}.gt_lt_exclusive", k, {k: {"gt": 5, "lt": 2}}, 1, 6, 3, 2, 5)
    case(f"{k}.gte_lte", k, {k: {"gte": 2, "lte": 5}}, 2, 5, 6, 1)
    case(f"{k}.gte_lte_exclusive", k, {k: {"gte": 5, "lte": 2}}, 2, 5, 3)
    case(f"{k}.gt_lte", k, {k: {"gt": 2, "lte": 5}}, 2, 5)
    case(f"{k}.gte_lt_exclusive", k, {k: {"gte": 5, "lt": 2}}, 2, 4, 5)
    case(f"{k}.in", k, {k: {"in": [1, 2, 3], "not_in": [2]}}, 1, 2, 4)
for k in ["int64", "sint64", "sfixed64"]:
    case(f"{k}.extremes", k, {k: {"gt": "-9223372036854775808", "lt": "9223372036854775807"}}, "-9223372036854775808", "9223372036854775807", "0")
case("int32.negative", "int32", {"int32": {"gte": -5, "lt": -1, "in": [-3, -2]}}, -5, -1, -4)
case("uint64.extremes", "uint64", {"uint64": {"lte": "18446744073709551614"}}, "18446744073709551615")
for k in ["float", "double"]:
    case(f"{k}.const", k, {k: {"const": 1.5}}, 1.5, 1.25, "NaN")
    case(f"{k}.lt", k, {k: {"lt": 1.5}}, 1.4, 1.5, "NaN", "-Infinity", "Infinity")
    case(f"{k}.lte", k, {k: {"lte": 0.1}}, 0.1, 0.2, "NaN")
    case(f"{k}.gt", k, {k: {"gt": -0.5}}, 0, -0.5, "NaN", "Infinity")
    case(f"{k}.gte", k, {k: {"gte": 0.0}}, -0.0, -1e-30, "NaN")
    case(f"{k}.gt_lt", k, {k: {"gt": 0, "lt": 1}}, 0.5, 0, 1, "NaN")
    case(f"{k}.gt_lt_exclusive", k, {k: {"gt": 1, "lt": 0}}, 0.5, -1, 2, "NaN")
    case(f"{k}.gte_lte", k, {k: {"gte": 0.25, "lte": 1e10}}, 0.25, 2e10, "NaN")
    case(f"{k}.gte_lt_exclusive", k, {k: {"gte": 1e-3, "lt": -1e-3}}, 0, 1e-3)
    case(f"{k}.gt_lte_exclusive", k, {k: {"gt": 3.25, "lte": -7}}, 0, -7, 3.5)
    case(f"{k}.in", k, {k: {"in": [1.5, 2.5], "not_in": [0.1]}}, 1.5, 0.1, "NaN", 3)
    case(f"{k}.finite", k, {k: {"finite": True}}, 1, "NaN", "Infinity", "-Infinity")
    case(f"{k}.big", k, {k: {"lt": 1e20, "const": 1e-7}}, 1e21)
case("double.inf_bound", "double", {"double": {"gt": "-Infinity", "lt": "Infinity"}}, 0, "Infinity")

case("bool.const", "bool", {"bool": {"const": True}}, True, False)
case("bool.const_false", "bool", {"bool": {"const": False}}, True)

case("enum.const", "enum", {"enum": {"const": 2}}, 2, 1)
case("enum.defined_only", "enum", {"enum": {"defined_only": True}}, 0, 3, 4, -1)
case("enum.in", "enum", {"enum": {"in": [1, 2], "not_in": [2]}}, 1, 2, 3)

# Required.
case("required.string", "string", {"required": True}, "", "a")
case("required.string_rules", "string", {"required": True, "string": {"min_len": 3}}, "", "a")
case("required.int32", "int32", {"required": True, "int32": {"gt": 5}}, 0, 3)
case("required.optional", "string", {"required": True}, "", label="optional")
case("required.optional_unset", "string", {"required": True}, None, label="optional", unset=True)
case("required.message", "message", {"required": True}, {"name": "ab"}, {"name": "a"})
case("required.message_unset", "message", {"required": True}, None, unset=True)
case("required.repeated", "string", {"required": True}, [], ["a"], label="repeated")
case("required.map", "", {"required": True}, {}, {"a": 1}, map=["string", "int32"])

# Repeated.
case("repeated.items", "string", {"repeated": {"min_items": 1, "max_items": 2}}, [], ["a"], ["a", "b", "c"], label="repeated")
case("repeated.unique_strings", "string", {"repeated": {"unique": True}}, ["a", "b"], ["a", "b", "a"], [], label="repeated")
case("repeated.unique_floats", "double", {"repeated": {"unique": True}}, [1, 2], [1, 1], ["NaN", "NaN"], [0.0, -0.0], label="repeated")
case("repeated.unique_f32", "float", {"repeated": {"unique": True}}, [0.5, 0.5], ["NaN"], label="repeated")
case("repeated.unique_ints", "int64", {"repeated": {"unique": True}}, ["1", "2", "1"], label="repeated")
case("repeated.unique_bytes", "bytes", {"repeated": {"unique": True}}, ["YQ==", "YQ=="], label="repeated")
case("repeated.unique_enum", "enum", {"repeated": {"unique": True}}, [1, 1], [1, 2], label="repeated")
case("repeated.item_rules", "string", {"repeated": {"max_items": 1, "items": {"string": {"min_len": 2, "email": True}}}}, ["a", "bb", "x@y.z"], label="repeated")
case("repeated.item_ints", "int32", {"repeated": {"items": {"int32": {"gt": 0, "lt": 10}}}}, [0, 5, 10], label="repeated")
case("repeated.item_enum", "enum", {"repeated": {"items": {"enum": {"defined_only": True}}}}, [1, 9], label="repeated")
case("repeated.messages", "message", {"repeated": {"min_items": 3}}, [{"name": "ab"}, {"name": "a"}, {}], label="repeated")
case("repeated.item_duration", "duration", {"repeated": {"items": {"duration": {"gt": "1s"}}}}, ["2s", "0.5s"], label="repeated")

# Maps.
case("map.pairs", "", {"map": {"min_pairs": 1, "max_pairs": 2}}, {}, {"a": 1}, {"a": 1, "b": 2, "c": 3}, map=["string", "int32"])
case("map.keys", "", {"map": {"keys": {"string": {"min_len": 2, "pattern": "^[a-z]+$"}}}}, {"ab": 1, "a": 2, "A1": 3}, map=["string", "int32"])
case("map.values", "", {"map": {"values": {"string": {"max_len": 1}}}}, {"a": "xy", "b": "x"}, map=["string", "string"])
case("map.int_keys", "", {"map": {"keys": {"int32": {"gt": 0}}, "values": {"int32": {"gt": 0}}}}, {"-1": -1, "1": 1}, map=["int32", "int32"])
case("map.sint64_keys", "", {"map": {"keys": {"sint64": {"lt": 0}}}}, {"5": 1}, map=["sint64", "int32"])
case("map.uint64_keys", "", {"map": {"keys": {"uint64": {"in": [1]}}}}, {"18446744073709551615": 1}, map=["uint64", "int32"])
case("map.fixed32_keys", "", {"map": {"keys": {"fixed32": {"gt": 5}}}}, {"5": 1}, map=["fixed32", "int32"])
case("map.bool_keys", "", {"map": {"keys": {"bool": {"const": False}}}}, {"true": 1, "false": 2}, map=["bool", "int32"])
case("map.message_values", "", {"map": {"min_pairs": 2}}, {"k": {"name": "a"}}, map=["string", "message"])
case("map.enum_values", "", {"map": {"values": {"enum": {"defined_only": True}}}}, {"k": 7}, map=["string", "enum"])

# Durations and timestamps.
case("duration.const", "duration", {"duration": {"const": "1.5s"}}, "1.5s", "1s", "-1.5s")
case("duration.range", "duration", {"duration": {"gt": "0s", "lte": "3600s"}}, "0s", "1s", "3600.000000001s", "-1s")
case("duration.exclusive", "duration", {"duration": {"gte": "10s", "lt": "-10s"}}, "0s", "10s", "-10s", "-10.5s")
case("duration.lt", "duration", {"duration": {"lt": "0.001s"}}, "0.001s", "0s")
case("duration.in", "duration", {"duration": {"in": ["1s", "0.000000001s"], "not_in": ["1s"]}}, "1s", "2s", "0.000000001s")
case("duration.unset", "duration", {"duration": {"gt": "1s"}}, None, unset=True)
case("timestamp.const", "timestamp", {"timestamp": {"const": "2020-01-01T00:00:00Z"}}, "2020-01-01T00:00:00Z", "2020-01-01T00:00:00.000000001Z")
case("timestamp.range", "timestamp", {"timestamp": {"gt": "2020-01-01T00:00:00Z", "lt": "2021-01-01T00:00:00.25Z"}}, "2020-06-01T00:00:00Z", "2020-01-01T00:00:00Z", "2022-01-01T00:00:00Z")
case("timestamp.exclusive", "timestamp", {"timestamp": {"gte": "2021-01-01T00:00:00Z", "lte": "2020-01-01T00:00:00Z"}}, "2020-06-01T00:00:00Z", "1970-01-01T00:00:00Z")
case("timestamp.now", "timestamp", {"timestamp": {"lt_now": True}}, "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z")
case("timestamp.gt_now", "timestamp", {"timestamp": {"gt_now": True}}, "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z")
case("timestamp.within", "timestamp", {"timestamp": {"within": "60s"}}, "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z")
case("any.in", "any", {"any": {"in": ["type.googleapis.com/google.protobuf.Duration"]}},
     {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1s"}, {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "2020-01-01T00:00:00Z"})
case("any.not_in", "any", {"any": {"not_in": ["type.googleapis.com/google.protobuf.Duration"]}},
     {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1s"}, {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "2020-01-01T00:00:00Z"})


def outer(f, add_field, ext, rules):
    m = f.message_type.add(name="Outer")
    add_field(m, "inner", 1, {"kind": "message"})
    add_field(m, "items", 2, {"kind": "message", "label": "repeated", "rules": {"repeated": {"max_items": 2}}})
    add_field(m, "by_name", 3, {"map": ["string", "message"], "rules": {"map": {"keys": {"string": {"min_len": 2}}}}})
    add_field(m, "deep", 4, {"map": ["int32", "message"]})


def choice(f, add_field, ext, rules):
    m = f.message_type.add(name="Choice")
    m.oneof_decl.add(name="kind").options.MergeFromString(ext(1159, b"\x08\x01"))
    a = add_field(m, "a", 1, {"kind": "string", "rules": {"string": {"min_len": 3}}})
    a.oneof_index = 0
    b = add_field(m, "b", 2, {"kind": "int32"})
    b.oneof_index = 0
    add_field(m, "x", 3, {"kind": "string"})
    add_field(m, "y", 4, {"kind": "int32"})
    rule = b"\x0a\x01x\x0a\x01y\x10\x01"
    m.options.MergeFromString(ext(1159, b"\x22" + bytes([len(rule)]) + rule))


SHAPES = {"Outer": outer, "Choice": choice}
SHAPE_VALUES = {
    "Outer": [
        ("empty", {}),
        ("inner", {"inner": {"name": "a"}}),
        ("items", {"items": [{"name": "ok"}, {"name": "a"}, {"name": ""}]}),
        ("map", {"byName": {"k": {"name": "a"}, "kk": {"name": "b"}}}),
        ("deep", {"deep": {"7": {"name": "x"}}, "inner": {"name": "fine"}}),
    ],
    "Choice": [
        ("none", {}),
        ("a_short", {"a": "ab", "x": "x"}),
        ("b", {"b": 1, "y": 1}),
        ("both", {"a": "abc", "x": "x", "y": 2}),
    ],
}


# A sweep past a thousand cases: every integer kind's rules on its repeated items and map
# values, strings and bytes over Unicode and boundary samples, enums in lists.
SAMPLES = ["", "a", "ab", "abc", "é", "日本", "👍", "a b", "A1", "-", "zz", "ü"]
for k in INTS:
    case(f"sweep.{k}.items", k, {"repeated": {"max_items": 3, "items": {k: {"gte": 1, "lte": 9}}}},
         [], [1], [0], [9, 10], [1, 2, 3, 4], [5, 0, 11], label="repeated")
    case(f"sweep.{k}.items_in", k, {"repeated": {"items": {k: {"in": [2, 4], "not_in": [4]}}}}, [2, 4, 6], label="repeated")
    case(f"sweep.{k}.values", "", {"map": {"max_pairs": 2, "values": {k: {"lt": 3}}}},
         {"a": 1}, {"a": 3, "b": 2}, {"a": 0, "b": 1, "c": 2}, map=["string", k])
    case(f"sweep.{k}.const_zero", k, {k: {"const": 0}}, 0, 1)
    case(f"sweep.{k}.gte_zero", k, {k: {"gte": 0, "lt": 100}}, 0, 99, 100)
for rules in [{"min_len": 2}, {"max_len": 1}, {"len": 2}, {"min_bytes": 2}, {"max_bytes": 2}, {"prefix": "a"},
              {"suffix": "b"}, {"contains": "b"}, {"not_contains": "a"}, {"in": ["a", "é"]}, {"not_in": ["", "a"]},
              {"pattern": "^[a-z]*$"}, {"pattern": "(?i)^[A-Z0-9 ]+$"}, {"min_len": 1, "max_bytes": 3}]:
    name = "_".join(rules)
    case(f"sweep.string.{name}", "string", {"string": rules}, *SAMPLES)
    case(f"sweep.string_items.{name}", "string", {"repeated": {"items": {"string": rules}}}, SAMPLES, label="repeated")
for rules in [{"min_len": 2}, {"max_len": 1}, {"len": 2}, {"prefix": "YQ=="}, {"suffix": "Yg=="}, {"contains": "Yg=="},
              {"in": ["YQ==", "w6k="]}, {"not_in": ["", "YQ=="]}]:
    name = "_".join(rules)
    case(f"sweep.bytes.{name}", "bytes", {"bytes": rules}, "", "YQ==", "YWI=", "w6k=", "/w==", "YWJj")
case("sweep.enum.items", "enum", {"repeated": {"unique": True, "items": {"enum": {"defined_only": True, "not_in": [2]}}}},
     [1, 2, 3], [1, 1], [0, 7], label="repeated")
case("sweep.bool.items", "bool", {"repeated": {"max_items": 2, "items": {"bool": {"const": True}}}},
     [True, False, True], [True], label="repeated")


# Custom rules (CEL): `cel` with and without a message, a string result, `cel_expression`,
# protovalidate's functions, next to standard rules, on items, map keys and values.
def cel(id, expression, message=None):
    rule = {"id": id, "expression": expression}
    if message is not None:
        rule["message"] = message
    return {"cel": [rule]}


case("cel.bool", "int32", cel("big", "this > 5", "must be big"), 6, 3, 0)
case("cel.no_message", "int32", cel("big", "this > 5"), 3)
case("cel.string_result", "int32", cel("big", "this > 5 ? '' : 'too small: ' + string(this)"), 9, 3)
case("cel.expression", "string", {"cel_expression": ["this.startsWith('a')", "size(this) < 4"]}, "abc", "abcd", "xyz12")
case("cel.both", "int64", {"cel_expression": ["this % 2 == 0"], "cel": [{"id": "pos", "message": "positive", "expression": "this > 0"}]},
     2, -3, 0)
case("cel.with_standard", "int32", {"int32": {"gt": 10}, **cel("odd", "this % 2 == 1", "must be odd")}, 11, 12, 3)
case("cel.unset_zero", "int32", cel("z", "this != 0", "set it"), None, unset=True)
case("cel.is_email", "string", cel("e", "this.isEmail()"), "a@b.example", "nope", "")
case("cel.is_hostname", "string", cel("h", "this == '' || this.isHostname()"), "example.com", "-bad-.com", "")
case("cel.is_ip", "string", {"cel_expression": ["this.isIp()", "this.isIp(4)"]}, "1.2.3.4", "::1", "x")
case("cel.is_ip_prefix", "string", {"cel_expression": ["this.isIpPrefix()", "this.isIpPrefix(4, true)"]},
     "10.0.0.0/8", "10.0.0.1/8", "::/0")
case("cel.is_uri", "string", {"cel_expression": ["this.isUri()"]}, "https://example.com/a?b#c", "/relative", "a b")
case("cel.is_uri_ref", "string", {"cel_expression": ["this.isUriRef()"]}, "/relative", "a b")
case("cel.host_and_port", "string", {"cel_expression": ["this.isHostAndPort(true)", "this.isHostAndPort(false)"]},
     "example.com:80", "example.com", "[::1]", "[::1]:443", "x:99999")
case("cel.nan_inf", "double", {"cel_expression": ["!this.isNan()", "!this.isInf()", "!this.isInf(-1)"]},
     1.5, "NaN", "Infinity", "-Infinity")
case("cel.strings_ext", "string", {"cel_expression": ["this.lowerAscii() == this", "this.matches('^[a-z]*$')"]}, "abc", "Abc", "a1")
case("cel.bytes", "bytes", cel("b", "size(this) <= 2 && (size(this) == 0 || this != b'x')", "bad bytes"), "", "eA==", "YWJj")
case("cel.bool_field", "bool", cel("t", "this", "must be true"), True, False)
case("cel.uint", "uint64", cel("u", "this < 10u", "small"), 3, 18446744073709551615)
case("cel.enum", "enum", cel("c", "this != 2", "not green"), 1, 2)
case("cel.duration", "duration", cel("d", "this < duration('10s') ? '' : 'too long'"), "1s", "11s")
case("cel.timestamp", "timestamp", cel("t", "this > timestamp('2000-01-01T00:00:00Z')", "old"),
     "2020-01-01T00:00:00Z", "1990-01-01T00:00:00Z")
case("cel.now", "timestamp", cel("t", "this < now", "in the future"), "2020-01-01T00:00:00Z", "2999-01-01T00:00:00Z")
case("cel.message", "message", cel("m", "this.name != 'bad'"), {"name": "good"}, {"name": "bad"})
case("cel.message_unset", "message", cel("m", "this.name != 'bad'"), None, unset=True)
case("cel.list", "string", {"cel": [{"id": "u", "message": "unique", "expression": "this.unique()"}],
                            "repeated": {"max_items": 2}}, ["a", "b"], ["a", "a", "b"], label="repeated")
case("cel.list_all", "int32", cel("all", "this.all(x, x > 0)", "all positive"), [1, 2], [1, -2], label="repeated")
case("cel.items", "int32", {"repeated": {"items": {**cel("it", "this > 5", "m"), "int32": {"lt": 100}}}},
     [3, 9, 200], label="repeated")
case("cel.items_string", "string", {"repeated": {"items": {"cel_expression": ["this != ''"]}}}, ["a", "", "b"], label="repeated")
case("cel.map", "", cel("m", "size(this) < 2", "too many"), {"a": 1}, {"a": 1, "b": 2}, map=["string", "int32"])
case("cel.map_has", "", cel("m", "'a' in this", "needs a"), {"a": 1}, {"b": 2}, map=["string", "int32"])
case("cel.map_keys", "", {"map": {"keys": cel("k", "this.size() > 1", "long keys")}}, {"ab": 1, "a": 2}, map=["string", "int32"])
case("cel.map_values", "", {"map": {"values": cel("v", "this > 0", "positive")}}, {"a": 1, "b": -2}, map=["string", "int32"])
case("cel.map_int_keys", "", {"map": {"keys": cel("k", "this > 0", "positive key")}}, {"1": 1, "-1": 2}, map=["int64", "int32"])


def message_rules_shape(f, add_field, ext, rules):
    m = f.message_type.add(name="Range")
    add_field(m, "lo", 1, {"kind": "int32", "rules": {"int32": {"gte": 0}}})
    add_field(m, "hi", 2, {"kind": "int32"})
    add_field(m, "inner", 3, {"kind": "message", "rules": cel("inner.named", "this.name != 'bad'")})
    add_field(m, "tags", 4, {"kind": "string", "label": "repeated"})
    add_field(m, "note", 5, {"kind": "string", "label": "optional"})

    def rule(id, msg, expr):
        out = b""
        for num, s in ((1, id), (2, msg), (3, expr)):
            if s:
                out += bytes([num << 3 | 2, len(s.encode())]) + s.encode()
        return out
    # MessageRules: cel (3) is a Rule {id = 1, message = 2, expression = 3}; cel_expression (5).
    r1 = rule("range.order", "lo must be at most hi", "this.lo <= this.hi")
    r2 = b"this.hi > 100 || has(this.inner)"
    r3 = rule("range.str", "", "has(this.note) || size(this.tags) > 0 ? '' : 'a note or tags, please; hi=' + string(this.hi)")
    body = bytes([3 << 3 | 2, len(r1)]) + r1 + bytes([5 << 3 | 2, len(r2)]) + r2 + bytes([3 << 3 | 2, len(r3)]) + r3
    m.options.MergeFromString(ext(1159, body))


SHAPES["Range"] = message_rules_shape
SHAPE_VALUES["Range"] = [
    ("empty", {}),
    ("broken", {"lo": -1, "hi": -2, "inner": {"name": "bad"}}),
    ("fine", {"lo": 1, "hi": 2, "inner": {"name": "ok"}, "note": ""}),
    ("tags", {"lo": 5, "hi": 200, "tags": ["x"]}),
]
