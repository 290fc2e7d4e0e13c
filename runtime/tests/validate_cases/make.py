"""Records what protovalidate (PyPI `protovalidate`, used as the oracle) reports
for each case in CASES into cases.json, which runtime/tests/validate.rs replays
against apigen_runtime::validate. Run with a Python that has protovalidate:

    python runtime/tests/validate_cases/make.py

Each case is one field `f` (number 1) of a generated message with FieldRules
given in proto JSON, and a value for it in proto JSON; a few fixed shapes
(nested messages, oneofs) cover paths through messages.
"""

import json
import os
import sys

import protovalidate
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2, any_pb2
from protovalidate._gen.buf.validate import validate_pb as v

from google.protobuf import text_format

from cases import CASES, SHAPES

TYPES = {
    "double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "fixed64": 6, "fixed32": 7, "bool": 8,
    "string": 9, "message": 11, "bytes": 12, "uint32": 13, "enum": 14, "sfixed32": 15, "sfixed64": 16,
    "sint32": 17, "sint64": 18,
}
WKT = {"duration": ".google.protobuf.Duration", "timestamp": ".google.protobuf.Timestamp", "any": ".google.protobuf.Any"}


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def ext(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def base_set():
    fds = descriptor_pb2.FileDescriptorSet()
    for m in (descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2, any_pb2):
        fds.file.append(descriptor_pb2.FileDescriptorProto.FromString(m.DESCRIPTOR.serialized_pb))
    fds.file.append(descriptor_pb2.FileDescriptorProto.FromString(v._DESC.proto.to_binary()))
    return fds


def field_rules_bytes(pool, rules_json):
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("buf.validate.FieldRules"))
    return json_format.ParseDict(rules_json, cls()).SerializeToString()


def set_type(fld, kind):
    if kind in WKT:
        fld.type = 11
        fld.type_name = WKT[kind]
    elif kind == "enum":
        fld.type = 14
        fld.type_name = ".t.Color"
    elif kind == "message":
        fld.type = 11
        fld.type_name = ".t.Inner"
    else:
        fld.type = TYPES[kind]


def add_field(pool0, msg, name, number, spec):
    """spec: {kind, label?: repeated|optional, map?: [k, v], rules?}"""
    fld = msg.field.add(name=name, number=number, json_name=name.split("_")[0] + "".join(p.capitalize() for p in name.split("_")[1:]), label=1)
    if "map" in spec:
        k, val = spec["map"]
        entry = msg.nested_type.add(name="".join(p.capitalize() for p in name.split("_")) + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, json_name="key", label=1, type=TYPES[k])
        vf = entry.field.add(name="value", number=2, json_name="value", label=1)
        set_type(vf, val)
        fld.label = 3
        fld.type = 11
        fld.type_name = ".t." + msg.name + "." + entry.name
    else:
        set_type(fld, spec["kind"])
        if spec.get("label") == "repeated":
            fld.label = 3
        elif spec.get("label") == "optional":
            fld.proto3_optional = True
            fld.oneof_index = len(msg.oneof_decl)
            msg.oneof_decl.add(name="_" + name)
    if spec.get("rules"):
        fld.options.MergeFromString(ext(1159, field_rules_bytes(pool0, spec["rules"])))
    return fld


def element(e):
    out = {}
    for name in ("field_number", "field_name", "field_type", "key_type", "value_type"):
        if e.HasField(name):
            out[name] = getattr(e, name)
    which = e.WhichOneof("subscript")
    if which:
        out[which] = getattr(e, which)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    fds = base_set()
    pool0 = descriptor_pool.DescriptorPool()
    for fp in fds.file:
        pool0.Add(fp)
    f = fds.file.add(name="t.proto", package="t", syntax="proto3", dependency=[
        "buf/validate/validate.proto", "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto", "google/protobuf/any.proto"])
    color = f.enum_type.add(name="Color")
    for name, number in [("COLOR_UNSPECIFIED", 0), ("COLOR_RED", 1), ("COLOR_GREEN", 2), ("COLOR_BLUE", 3)]:
        color.value.add(name=name, number=number)
    inner = f.message_type.add(name="Inner")
    add_field(pool0, inner, "name", 1, {"kind": "string", "rules": {"string": {"min_len": 2}}})
    names = []
    for i, case in enumerate(CASES):
        m = f.message_type.add(name=f"C{i}")
        add_field(pool0, m, "f", 1, case)
        names.append(m.name)
    for name, build in SHAPES.items():
        build(f, lambda msg, n, num, spec: add_field(pool0, msg, n, num, spec), ext, lambda r: field_rules_bytes(pool0, r))
    pool = descriptor_pool.DescriptorPool()
    for fp in fds.file:
        pool.Add(fp)
    validator = protovalidate.Validator()
    violation_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("buf.validate.Violation"))
    out = []

    def run(msg_name, value):
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("t." + msg_name))
        msg = json_format.ParseDict(value, cls())
        found = []
        for viol in validator.collect_violations(msg):
            # protovalidate's own message type; read back as google.protobuf's for HasField.
            p = violation_cls.FromString(viol.proto.to_binary())
            found.append({
                "rule_id": p.rule_id, "message": p.message, "for_key": p.for_key,
                "field": [element(e) for e in p.field.elements],
                "rule": [element(e) for e in p.rule.elements],
            })
        return found

    for i, case in enumerate(CASES):
        value = {} if case.get("unset") else {"f": case["value"]}
        try:
            found = run(names[i], value)
        except Exception as e:  # a case the oracle refuses is a mistake in the case
            sys.exit(f"case {case['name']}: {e}")
        out.append({**case, "violations": found})
    for shape in SHAPES:
        for name, value in SHAPE_VALUES[shape]:
            out.append({"name": f"{shape}/{name}", "shape": shape, "value": value, "violations": run(shape, value)})
    with open(os.path.join(here, "cases.proto"), "w") as fh:
        fh.write(proto_text(f, pool0, names + list(SHAPES)))
    with open(os.path.join(here, "cases.json"), "w") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
    print(len(out), "cases,", sum(len(c["violations"]) for c in out), "violations")


KEYWORDS = {v: k for k, v in TYPES.items() if k not in ("message", "enum")}


def read_varint(b, i):
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        i += 1
        if b[i - 1] < 0x80:
            return n, i
        shift += 7


def ext_payload(options):
    """The payload of extension 1159 (the buf.validate option) in encoded options, or None."""
    b = options.SerializeToString()
    i = 0
    while i < len(b):
        tag, i = read_varint(b, i)
        if tag & 7 == 2:
            n, i = read_varint(b, i)
            if tag >> 3 == 1159:
                return b[i:i + n]
            i += n
        elif tag & 7 == 0:
            _, i = read_varint(b, i)
        else:
            raise ValueError(f"unexpected wire type in options: {tag}")
    return None


def option_text(pool0, type_name, payload):
    cls = message_factory.GetMessageClass(pool0.FindMessageTypeByName(type_name))
    return "{" + text_format.MessageToString(cls.FromString(payload), as_one_line=True) + "}"


def proto_text(f, pool0, names):
    """The corpus as one .proto file, for apigen: every case message, and `Cases`, a request
    with one field per case message (numbered from 1 in the order of `names`)."""
    out = ['// Generated by make.py from cases.py: every case message of cases.json, and a request',
           '// holding one of each, which tests/validate-diff serves. Do not edit.',
           'syntax = "proto3";', "package t;", "",
           'import "buf/validate/validate.proto";', 'import "google/protobuf/any.proto";',
           'import "google/protobuf/duration.proto";', 'import "google/protobuf/empty.proto";',
           'import "google/protobuf/timestamp.proto";', ""]
    out.append("enum Color {")
    for v in f.enum_type[0].value:
        out.append(f"  {v.name} = {v.number};")
    out.append("}")

    def type_of(fld):
        if fld.type in (11, 14):
            return fld.type_name.lstrip(".").removeprefix("t.")
        return KEYWORDS[fld.type]

    for m in f.message_type:
        out.append(f"message {m.name} {{")
        payload = ext_payload(m.options)
        if payload:
            out.append(f"  option (buf.validate.message) = {option_text(pool0, 'buf.validate.MessageRules', payload)};")
        entries = {e.name: e for e in m.nested_type if e.options.map_entry}
        for fld in m.field:
            if fld.HasField("oneof_index") and not m.oneof_decl[fld.oneof_index].name.startswith("_"):
                continue
            payload = ext_payload(fld.options)
            opt = f" [(buf.validate.field) = {option_text(pool0, 'buf.validate.FieldRules', payload)}]" if payload else ""
            entry = entries.get(fld.type_name.rsplit(".", 1)[-1]) if fld.type == 11 else None
            if entry:
                k, v = entry.field
                decl = f"map<{type_of(k)}, {type_of(v)}>"
            else:
                label = "repeated " if fld.label == 3 else "optional " if fld.proto3_optional else ""
                decl = label + type_of(fld)
            out.append(f"  {decl} {fld.name} = {fld.number}{opt};")
        for i, o in enumerate(m.oneof_decl):
            if o.name.startswith("_"):
                continue
            out.append(f"  oneof {o.name} {{")
            payload = ext_payload(o.options)
            if payload:
                out.append(f"    option (buf.validate.oneof) = {option_text(pool0, 'buf.validate.OneofRules', payload)};")
            for fld in m.field:
                if fld.HasField("oneof_index") and fld.oneof_index == i:
                    payload = ext_payload(fld.options)
                    opt = f" [(buf.validate.field) = {option_text(pool0, 'buf.validate.FieldRules', payload)}]" if payload else ""
                    out.append(f"    {type_of(fld)} {fld.name} = {fld.number}{opt};")
            out.append("  }")
        out.append("}")
    out.append("")
    out.append("// One field per case message, in cases.json's order; a request sets one.")
    out.append("message Cases {")
    for i, name in enumerate(names):
        out.append(f"  {name} {name.lower()} = {i + 1};")
    out.append("}")
    out.append("")
    out.append("service Diff {")
    out.append("  rpc Check(Cases) returns (google.protobuf.Empty);")
    out.append("}")
    return "\n".join(out) + "\n"


from cases import SHAPE_VALUES  # noqa: E402

if __name__ == "__main__":
    main()
