#!/usr/bin/env python3
"""Generate Kafka wire-protocol codecs (C) from our compact descriptions.

Input: proto/kafka/*.kafka (format in proto/kafka/README.md).
Output (into the build directory, never edited by hand):
  --header  kafka_messages.h       structs, init/decode/encode prototypes, API table
  --source  kafka_messages.c       the codecs, on top of proto/kafka/kafka_reader.h
                                   and kafka_writer.h
  --test-header/--test-source      (optional) random-fill helpers and a message table
                                   used only by the unit tests

Python 3 standard library only; run by meson (proto/kafka/meson.build).
"""
import argparse
import os
import re
import sys

PRIMS = {
    # type: (C type, reader/writer suffix, min wire size)
    "int8": ("int8_t", "int8", 1),
    "int16": ("int16_t", "int16", 2),
    "uint16": ("uint16_t", "uint16", 2),
    "int32": ("int32_t", "int32", 4),
    "uint32": ("uint32_t", "uint32", 4),
    "int64": ("int64_t", "int64", 8),
    "float64": ("double", "float64", 8),
    "bool": ("bool", "bool", 1),
    "uuid": ("struct kafka_uuid", "uuid", 16),
}
# Variable-length scalar types: (C type, reader/writer suffix)
VARLEN = {
    "string": ("const char *", "string"),
    "bytes": ("struct kafka_bytes", "bytes"),
    "records": ("struct kafka_records", "records"),
}
C_KEYWORDS = {"default", "int", "char", "long", "short", "signed", "unsigned", "struct",
              "union", "enum", "register", "static", "const", "volatile", "auto", "extern",
              "for", "while", "do", "if", "else", "switch", "case", "break", "continue",
              "return", "goto", "sizeof", "typedef", "void", "float", "double", "inline",
              "restrict", "bool", "true", "false"}


class SchemaError(Exception):
    pass


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


class Versions:
    """A closed version interval; hi None means 'and every later version'."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(text, where):
        m = re.fullmatch(r"(\d+)(\+|-(\d+))?", text)
        if not m:
            raise SchemaError(f"{where}: bad version spec '{text}'")
        lo = int(m.group(1))
        if m.group(2) is None:
            return Versions(lo, lo)
        if m.group(2) == "+":
            return Versions(lo, None)
        hi = int(m.group(3))
        if hi < lo:
            raise SchemaError(f"{where}: empty version range '{text}'")
        return Versions(lo, hi)

    def cond(self, api):
        """C expression true when `version` is in this interval (given the API range)."""
        parts = []
        if self.lo > api.lo:
            parts.append(f"version >= {self.lo}")
        if self.hi is not None and self.hi < api.hi:
            parts.append(f"version <= {self.hi}")
        return " && ".join(parts) if parts else "true"

    def contains(self, v):
        return v >= self.lo and (self.hi is None or v <= self.hi)


class Field:
    def __init__(self, name, ftype, versions, where):
        self.name = name
        self.type = ftype
        self.versions = versions
        self.nullable = None
        self.tag = None
        self.default = None
        self.where = where
        self.struct = None  # Struct for struct and []struct types

    @property
    def is_array(self):
        return self.type.startswith("[]")

    @property
    def elem(self):
        return self.type[2:] if self.is_array else self.type

    @property
    def cname(self):
        return self.name + "_" if self.name in C_KEYWORDS else self.name


class Struct:
    def __init__(self, cname):
        self.cname = cname  # full C name without 'struct '
        self.fields = []
        self.needs_is_default = False
        self.is_array_elem = False

    def regular(self):
        return [f for f in self.fields if f.tag is None]

    def tagged(self):
        return sorted([f for f in self.fields if f.tag is not None], key=lambda f: f.tag)


class Api:
    def __init__(self, name, key, lo, hi, flex, path):
        self.name, self.key, self.lo, self.hi, self.flex, self.path = name, key, lo, hi, flex, path
        self.messages = {}  # 'request'/'response' -> Struct
        self.structs = []  # every struct, children before parents

    def flex_expr(self):
        return "false" if self.flex is None else (
            "true" if self.flex <= self.lo else f"version >= {self.flex}")


def parse_field_line(text, where):
    toks = text.split()
    if len(toks) < 3:
        raise SchemaError(f"{where}: expected 'name type versions ...'")
    name, ftype, vers = toks[0], toks[1], toks[2]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SchemaError(f"{where}: field name '{name}' is not snake_case")
    f = Field(name, ftype, Versions.parse(vers, where), where)
    i = 3
    while i < len(toks):
        key = toks[i]
        if i + 1 >= len(toks):
            raise SchemaError(f"{where}: '{key}' needs a value")
        val = toks[i + 1]
        if key == "nullable":
            f.nullable = Versions.parse(val, where)
        elif key == "tag":
            f.tag = int(val)
        elif key == "default":
            f.default = "" if val == '""' else val
        else:
            raise SchemaError(f"{where}: unknown attribute '{key}'")
        i += 2
    return f


def parse_file(path):
    api = None
    stack = []  # (indent, Struct)
    msg_prefix = None
    names = set()
    with open(path) as fh:
        lines = fh.read().splitlines()
    for lineno, raw in enumerate(lines, 1):
        where = f"{path}:{lineno}"
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        text = line.strip()
        if indent == 0:
            toks = text.split()
            if toks[0] == "api":
                m = re.fullmatch(r"api ([a-z_]+) key (\d+) versions (\d+)-(\d+) flexible (\S+)",
                                 text)
                if not m:
                    raise SchemaError(f"{where}: bad api line")
                flex = None if m.group(5) == "none" else Versions.parse(m.group(5), where).lo
                api = Api(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), flex,
                          path)
            elif toks[0] in ("request", "response") and len(toks) == 1:
                if api is None:
                    raise SchemaError(f"{where}: '{toks[0]}' before the api line")
                msg_prefix = f"kafka_{api.name}_{toks[0]}"
                st = Struct(msg_prefix)
                api.messages[toks[0]] = st
                stack = [(0, st)]
            else:
                raise SchemaError(f"{where}: unexpected '{text}'")
            continue
        if indent % 2 or not stack:
            raise SchemaError(f"{where}: bad indentation")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if not stack or stack[-1][0] != indent - 2:
            raise SchemaError(f"{where}: bad indentation")
        parent = stack[-1][1]
        f = parse_field_line(text, where)
        if f.name in {x.name for x in parent.fields}:
            raise SchemaError(f"{where}: duplicate field '{f.name}'")
        parent.fields.append(f)
        if f.elem not in PRIMS and f.elem not in VARLEN:
            if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", f.elem):
                raise SchemaError(f"{where}: unknown type '{f.type}'")
            sname = snake(f.elem)
            kind = msg_prefix.rsplit("_", 1)[1]
            for pre in (f"{api.name}_{kind}_", f"{api.name}_"):
                if sname.startswith(pre) and len(sname) > len(pre):
                    sname = sname[len(pre):]
                    break
            cname = f"{msg_prefix}_{sname}"
            if cname in names:
                raise SchemaError(f"{where}: struct {cname} defined twice")
            names.add(cname)
            f.struct = Struct(cname)
            f.struct.is_array_elem = f.is_array
            stack.append((indent, f.struct))
    if api is None or set(api.messages) != {"request", "response"}:
        raise SchemaError(f"{path}: needs an api line, a request and a response")
    for kind in ("request", "response"):
        collect_structs(api, api.messages[kind])
        check_struct(api, api.messages[kind])
    return api


def collect_structs(api, st):
    for f in st.fields:
        if f.struct:
            collect_structs(api, f.struct)
    api.structs.append(st)


def check_struct(api, st):
    tags = set()
    for f in st.fields:
        if f.struct and not f.is_array and f.nullable:
            raise SchemaError(f"{f.where}: nullable structs are not supported")
        if f.elem in PRIMS and f.nullable and not f.is_array:
            raise SchemaError(f"{f.where}: only strings, bytes, records and arrays are nullable")
        if f.tag is not None:
            if api.flex is None or f.versions.lo < api.flex:
                raise SchemaError(f"{f.where}: tagged field outside flexible versions")
            if f.tag in tags:
                raise SchemaError(f"{f.where}: duplicate tag {f.tag}")
            if f.elem == "records":
                raise SchemaError(f"{f.where}: records cannot be tagged (splicing)")
            tags.add(f.tag)
            mark_is_default(f)
        if f.struct:
            check_struct(api, f.struct)
        if f.default is not None:
            c_default(f)  # validates


def mark_is_default(f):
    if f.struct and not f.is_array:
        f.struct.needs_is_default = True
        for sub in f.struct.fields:
            mark_is_default(sub)


# ---------------------------------------------------------------------------------------------
# C generation helpers


def c_int_literal(text, ctype, where):
    try:
        v = int(text, 0)
    except ValueError:
        raise SchemaError(f"{where}: bad integer default '{text}'")
    if v == -(1 << 31):
        return "INT32_MIN"
    if v == -(1 << 63):
        return "INT64_MIN"
    return str(v)


def c_default(f):
    """C initialiser expression for a scalar field's default, or None for zero."""
    d = f.default
    if f.is_array or f.struct:
        return None
    t = f.type
    if t in PRIMS:
        if d is None:
            return None
        if t == "bool":
            if d not in ("true", "false"):
                raise SchemaError(f"{f.where}: bad bool default '{d}'")
            return d
        if t == "uuid":
            raise SchemaError(f"{f.where}: uuid defaults are not supported")
        if t == "float64":
            return repr(float(d))
        return c_int_literal(d, PRIMS[t][0], f.where)
    if t == "string":
        if d is None or d == "":
            return '""' if d == "" or f.nullable is None else "NULL"
        if d == "null":
            return "NULL"
        return '"' + d.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if t in ("bytes", "records"):
        if d not in (None, "null"):
            raise SchemaError(f"{f.where}: only null defaults for {t}")
        return None
    raise SchemaError(f"{f.where}: default not supported for {t}")


def array_default_count(f):
    return "-1" if f.default == "null" else "0"


def varlen_default_len(f):
    return "-1" if f.default == "null" else "0"


def elem_ctype(f):
    if f.struct:
        return f"struct {f.struct.cname}"
    if f.elem in PRIMS:
        return PRIMS[f.elem][0]
    return VARLEN[f.elem][0]


def elem_min_size(api, f):
    """C expression: minimum wire size of one element / value of f (not tagged)."""
    if f.struct:
        return f"{f.struct.cname}_min_size(version)"
    if f.elem in PRIMS:
        return str(PRIMS[f.elem][2])
    if f.elem == "string":
        return "(flex ? 1 : 2)"
    return "(flex ? 1 : 4)"


def nullable_expr(api, f):
    return "false" if f.nullable is None else f.nullable.cond(api)


class Out:
    def __init__(self):
        self.lines = []

    def __call__(self, text=""):
        self.lines.append(text)

    def text(self):
        return "\n".join(self.lines) + "\n"


def gen_struct_decl(o, st):
    o(f"struct {st.cname} {{")
    if not st.fields:
        o("    char unused_; /* no fields in any supported version */")
    for f in st.fields:
        ct = elem_ctype(f)
        if f.is_array:
            sep = "" if ct.endswith("*") else " "
            o(f"    {ct}{sep}*{f.cname}; /* {f.versions_text()} */")
            o(f"    int32_t {f.name}_count; /* -1: null */")
        else:
            sep = "" if ct.endswith("*") else " "
            o(f"    {ct}{sep}{f.cname}; /* {f.versions_text()} */")
    o("};")
    o()


def versions_text(self):
    v = self.versions
    s = f"v{v.lo}+" if v.hi is None else f"v{v.lo}-{v.hi}"
    if self.nullable:
        n = self.nullable
        s += ", nullable " + (f"v{n.lo}+" if n.hi is None else f"v{n.lo}-{n.hi}")
    if self.tag is not None:
        s += f", tag {self.tag}"
    if self.default is not None:
        s += f", default {self.default or chr(34) * 2}"
    return s


Field.versions_text = versions_text


def is_public(st):
    return True  # every struct's init is public: handlers fill response elements


def gen_init(o, api, st):
    o(f"void {st.cname}_init(struct {st.cname} *m)")
    o("{")
    o("    memset(m, 0, sizeof(*m));")
    for f in st.fields:
        if f.is_array:
            if array_default_count(f) != "0":
                o(f"    m->{f.name}_count = {array_default_count(f)};")
        elif f.struct:
            o(f"    {f.struct.cname}_init(&m->{f.cname});")
        elif f.type in ("bytes", "records"):
            if varlen_default_len(f) != "0":
                o(f"    m->{f.cname}.len = {varlen_default_len(f)};")
        else:
            d = c_default(f)
            if d is not None and d not in ("0", "false", "NULL"):
                o(f"    m->{f.cname} = {d};")
    o("}")
    o()


def gen_min_size(o, api, st):
    o(f"static size_t {st.cname}_min_size(int16_t version)")
    o("{")
    o(f"    const bool flex = {api.flex_expr()};")
    o("    size_t n = flex ? 1 : 0; /* tag count */")
    o("    (void)version;")
    for f in st.regular():
        size = "(flex ? 1 : 4)" if f.is_array else elem_min_size(api, f)
        cond = f.versions.cond(api)
        if cond == "true":
            o(f"    n += {size};")
        else:
            o(f"    if ({cond})")
            o(f"        n += {size};")
    o("    return n;")
    o("}")
    o()


def scalar_is_default(f, ref):
    if f.is_array:
        return f"{ref[:-len(f.cname)]}{f.name}_count == {array_default_count(f)}"
    if f.struct:
        return f"{f.struct.cname}_is_default(&{ref})"
    if f.type in ("bytes", "records"):
        return f"{ref}.len == {varlen_default_len(f)}"
    if f.type == "uuid":
        return f"kafka_uuid_is_zero(&{ref})"
    if f.type == "string":
        d = c_default(f)
        if d == "NULL":
            return f"{ref} == NULL"
        return f"({ref} != NULL && strcmp({ref}, {d}) == 0)"
    d = c_default(f) or ("false" if f.type == "bool" else "0")
    return f"{ref} == {d}"


def gen_is_default(o, api, st):
    o(f"static bool {st.cname}_is_default(const struct {st.cname} *m)")
    o("{")
    conds = [scalar_is_default(f, f"m->{f.cname}") for f in st.fields]
    o(f"    return {' && '.join(conds) if conds else 'true'};")
    o("}")
    o()


def codec_value(o, api, f, ind, decode, stream, target):
    """Emit the call that decodes (from reader `stream`) or encodes (to writer `stream`) one
    (non-array) value of f's element type at `target`."""
    rw = "read" if decode else "write"
    if f.struct:
        call = f"{f.struct.cname}_{'decode' if decode else 'encode'}({stream}, version, &{target})"
    elif f.elem in PRIMS:
        call = f"kafka_{rw}_{PRIMS[f.elem][1]}({stream}, {'&' if decode else ''}{target})"
    else:
        nul = "false" if f.is_array else nullable_expr(api, f)
        amp = "" if not decode and f.elem == "string" else "&"
        call = f"kafka_{rw}_{VARLEN[f.elem][1]}({stream}, flex, {nul}, {amp}{target})"
    o(f"{' ' * ind}TRY({call});")


def decode_value(o, api, f, ind, rd, target):
    codec_value(o, api, f, ind, True, rd, target)


def decode_field(o, api, f, ind, rd):
    sp = " " * ind
    if not f.is_array:
        decode_value(o, api, f, ind, rd, f"m->{f.cname}")
        return
    o(f"{sp}TRY(kafka_read_array_len({rd}, flex, {nullable_expr(api, f)}, "
      f"{elem_min_size(api, f)}, &m->{f.name}_count));")
    o(f"{sp}if (m->{f.name}_count > 0) {{")
    o(f"{sp}    m->{f.cname} = kafka_reader_alloc_array({rd}, m->{f.name}_count, "
      f"sizeof(*m->{f.cname}));")
    o(f"{sp}    if (m->{f.cname} == NULL)")
    o(f"{sp}        return KAFKA_CODEC_ENOMEM;")
    o(f"{sp}    for (int32_t i = 0; i < m->{f.name}_count; i++) {{")
    if f.struct:
        o(f"{sp}        {f.struct.cname}_init(&m->{f.cname}[i]);")
    decode_value(o, api, f, ind + 8, rd, f"m->{f.cname}[i]")
    o(f"{sp}    }}")
    o(f"{sp}}}")


def emit_when_present(o, api, f, ind, emit):
    """Emit `emit(ind)` for field `f`, inside its version test unless it is in every version."""
    cond = f.versions.cond(api)
    if cond == "true":
        emit(ind)
        return
    sp = " " * ind
    o(f"{sp}if ({cond}) {{")
    emit(ind + 4)
    o(f"{sp}}}")


def gen_codec(o, api, st, public, op, params, unused, emit):
    """One codec function, `{st}_{op}(params)`: `flex`, the version check and the
    init (decode) of public entry points, each regular field, then the tagged ones."""
    static = "" if public else "static "
    o(f"{static}int {st.cname}_{op}({params})")
    o("{")
    o(f"    const bool flex = {api.flex_expr()};")
    o("    (void)flex;")
    for name in unused:
        o(f"    (void){name};")
    if public:
        o(f"    if (version < {api.lo} || version > {api.hi})")
        o("        return KAFKA_CODEC_EVERSION;")
        if op == "decode":
            o(f"    {st.cname}_init(m);")
    for f in st.regular():
        emit_when_present(o, api, f, 4, lambda ind, f=f: emit(f, ind))
    if api.flex is not None:
        stream = "r" if op == "decode" else "w"
        o("    if (flex)")
        o(f"        TRY({st.cname}_{op}_tags({stream}, version, m));")
    if op == "decode" and public and st.cname.endswith("_request"):
        # Kafka frames one request per size prefix: bytes left after the body
        # mean the client and broker disagree on the layout (issue 11).
        o("    if (kafka_reader_remaining(r) != 0)")
        o("        return KAFKA_CODEC_ETRAILING;")
    o("    return 0;")
    o("}")
    o()


def gen_decode(o, api, st, public):
    gen_codec(o, api, st, public, "decode",
              f"struct kafka_reader *r, int16_t version, struct {st.cname} *m", [],
              lambda f, ind: decode_field(o, api, f, ind, "r"))


def gen_decode_tags(o, api, st):
    o(f"static int {st.cname}_decode_tags(struct kafka_reader *r, int16_t version, "
      f"struct {st.cname} *m)")
    o("{")
    o("    const bool flex = true;")
    o("    uint32_t count;")
    o("    (void)flex;")
    o("    (void)version;")
    o("    (void)m;")
    o("    TRY(kafka_read_tag_count(r, &count));")
    o("    for (uint32_t t = 0; t < count; t++) {")
    o("        uint32_t tag;")
    o("        struct kafka_reader field;")
    o("        TRY(kafka_read_tag(r, &tag, &field));")
    tagged = st.tagged()
    if tagged:
        o("        switch (tag) {")
        for f in tagged:
            o(f"        case {f.tag}:")
            emit_when_present(o, api, f, 12,
                              lambda ind, f=f: decode_field(o, api, f, ind, "&field"))
            o("            break;")
        o("        default: /* unknown tags are skipped (KIP-482) */")
        o("            break;")
        o("        }")
    o("    }")
    o("    return 0;")
    o("}")
    o()


def encode_value(o, api, f, ind, target):
    codec_value(o, api, f, ind, False, "w", target)


def encode_field(o, api, f, ind):
    sp = " " * ind
    if not f.is_array:
        encode_value(o, api, f, ind, f"m->{f.cname}")
        return
    o(f"{sp}TRY(kafka_write_array_len(w, flex, {nullable_expr(api, f)}, m->{f.name}_count));")
    o(f"{sp}if (m->{f.name}_count > 0 && m->{f.cname} == NULL)")
    o(f"{sp}    return KAFKA_CODEC_EINVAL;")
    o(f"{sp}for (int32_t i = 0; i < m->{f.name}_count; i++) {{")
    encode_value(o, api, f, ind + 4, f"m->{f.cname}[i]")
    o(f"{sp}}}")


def gen_encode(o, api, st, public):
    gen_codec(o, api, st, public, "encode",
              f"struct kafka_writer *w, int16_t version, const struct {st.cname} *m", ["m"],
              lambda f, ind: encode_field(o, api, f, ind))


def gen_encode_tags(o, api, st):
    o(f"static int {st.cname}_encode_tags(struct kafka_writer *w, int16_t version, "
      f"const struct {st.cname} *m)")
    o("{")
    o("    const bool flex = true;")
    o("    uint32_t count = 0;")
    o("    size_t mark;")
    o("    (void)flex;")
    o("    (void)version;")
    o("    (void)m;")
    o("    (void)mark;")
    tagged = st.tagged()
    # A tagged field is written only when it differs from its default (KIP-482).
    present = {}
    for f in tagged:
        cond = f.versions.cond(api)
        isdef = scalar_is_default(f, f"m->{f.cname}")
        present[f.tag] = f"!({isdef})" if cond == "true" else f"({cond}) && !({isdef})"
        o(f"    if ({present[f.tag]})")
        o("        count++;")
    o("    TRY(kafka_write_uvarint(w, count));")
    for f in tagged:
        o(f"    if ({present[f.tag]}) {{")
        o(f"        TRY(kafka_write_tag_begin(w, {f.tag}, &mark));")
        encode_field(o, api, f, 8)
        o("        TRY(kafka_write_tag_end(w, mark));")
        o("    }")
    o("    return 0;")
    o("}")
    o()


# ---------------------------------------------------------------------------------------------
# Output files

HEADER_TOP = """\
/* GENERATED by proto/kafka/gen_kafka_codec.py from the proto/kafka descriptions. Do not edit.
 *
 * Kafka request/response structs and their codecs, one set per API listed in
 * proto/kafka/. Contract (see proto/kafka/README.md):
 *
 * - kafka_<msg>_init(m): every field to its schema default (absent versions too).
 * - kafka_<msg>_decode(r, version, m): init, then decode from the reader. Strings
 *   and arrays are allocated in the reader's arena; bytes/records borrow the
 *   reader's input buffer. The result lives as long as both. Returns 0 or a
 *   negative KAFKA_CODEC_E* status; on error m is partially filled and must be
 *   discarded (its memory is the arena's). Unknown tagged fields are skipped.
 * - kafka_<msg>_encode(w, version, m): append the body to the writer. Fields not
 *   in `version` are ignored; a null where the version does not allow one is
 *   KAFKA_CODEC_EINVAL. Records with a splice source are not copied: see
 *   kafka_writer.h.
 * Arrays are (pointer, <name>_count) pairs; count -1 means null. Strings are
 * NUL-terminated, NULL meaning null. No function keeps a pointer to its arguments.
 */
#ifndef SLUICE_KAFKA_MESSAGES_H
#define SLUICE_KAFKA_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/kafka/kafka_reader.h"
#include "proto/kafka/kafka_writer.h"
"""


def api_enum_name(api):
    return "KAFKA_API_" + api.name.upper()


def gen_header(apis):
    o = Out()
    o(HEADER_TOP)
    o("/* API keys with codecs. */")
    o("enum kafka_api_key {")
    for api in sorted(apis, key=lambda a: a.key):
        o(f"    {api_enum_name(api)} = {api.key},")
    o("};")
    o()
    o("/* What the codecs support for one API (not what the broker advertises). */")
    o("struct kafka_api_info {")
    o("    int16_t api_key;")
    o("    const char *name;        /* snake_case, e.g. \"api_versions\" */")
    o("    int16_t min_version;     /* codec range, inclusive */")
    o("    int16_t max_version;")
    o("    int16_t flexible_from;   /* first flexible version, -1 if none */")
    o("};")
    o()
    o("/* Codec info for `api_key`, or NULL if there is no codec for it. */")
    o("const struct kafka_api_info *kafka_api_info_get(int16_t api_key);")
    o("/* Number of APIs with codecs and the i-th one (sorted by key), for iteration. */")
    o("size_t kafka_api_info_count(void);")
    o("const struct kafka_api_info *kafka_api_info_at(size_t i);")
    o("/* For (api_key, version) with a codec: fill the request header version (1 or 2),")
    o(" * the response header version (0 or 1; ApiVersions is always 0, KIP-511) and")
    o(" * whether the body is flexible (KIP-482). Any pointer may be NULL. Returns 0, or")
    o(" * KAFKA_CODEC_EVERSION when the key or version has no codec. */")
    o("int kafka_api_header_versions(int16_t api_key, int16_t version, int16_t *request_header,")
    o("                              int16_t *response_header, bool *flexible);")
    o()
    for api in apis:
        o(f"/* {api.name} (API key {api.key}): versions {api.lo}-{api.hi}, flexible "
          f"{'none' if api.flex is None else str(api.flex) + '+'}. */")
        o(f"#define KAFKA_{api.name.upper()}_MIN_VERSION {api.lo}")
        o(f"#define KAFKA_{api.name.upper()}_MAX_VERSION {api.hi}")
        o()
        for st in api.structs:
            gen_struct_decl(o, st)
        for st in api.structs:
            o(f"void {st.cname}_init(struct {st.cname} *m);")
        for kind in ("request", "response"):
            st = api.messages[kind]
            o(f"int {st.cname}_decode(struct kafka_reader *r, int16_t version, "
              f"struct {st.cname} *m);")
            o(f"int {st.cname}_encode(struct kafka_writer *w, int16_t version, "
              f"const struct {st.cname} *m);")
        o()
    o("#endif")
    return o.text()


def gen_try_macro(o):
    """TRY(expr): return a negative result of `expr` from the enclosing function."""
    o("#define TRY(expr)                                                                       \\")
    o("    do {                                                                                \\")
    o("        int try_rv_ = (expr);                                                           \\")
    o("        if (try_rv_ < 0)                                                                \\")
    o("            return try_rv_;                                                             \\")
    o("    } while (0)")


def gen_source(apis):
    o = Out()
    o("/* GENERATED by proto/kafka/gen_kafka_codec.py from the proto/kafka descriptions. Do not edit. */")
    o('#include "kafka_messages.h"')
    o()
    o("#include <string.h>")
    o()
    gen_try_macro(o)
    o()
    o("__attribute__((unused)) static inline bool kafka_uuid_is_zero(const struct kafka_uuid *u)")
    o("{")
    o("    static const struct kafka_uuid zero;")
    o("    return memcmp(u, &zero, sizeof(zero)) == 0;")
    o("}")
    o()
    for api in apis:
        o(f"/* ---- {api.name} ({os.path.basename(api.path)}) ---- */")
        o()
        # Prototypes first: nested structs refer to each other in both directions.
        for st in api.structs:
            public = st in api.messages.values()
            if not public:
                o(f"static int {st.cname}_decode(struct kafka_reader *r, int16_t version, "
                  f"struct {st.cname} *m);")
                o(f"static int {st.cname}_encode(struct kafka_writer *w, int16_t version, "
                  f"const struct {st.cname} *m);")
        o()
        for st in api.structs:
            public = st in api.messages.values()
            gen_init(o, api, st)
            if st.needs_is_default:
                gen_is_default(o, api, st)
            if st.is_array_elem:
                gen_min_size(o, api, st)
            if api.flex is not None:
                gen_decode_tags(o, api, st)
                gen_encode_tags(o, api, st)
            gen_decode(o, api, st, public)
            gen_encode(o, api, st, public)
    o("static const struct kafka_api_info kafka_api_infos[] = {")
    for api in sorted(apis, key=lambda a: a.key):
        flex = -1 if api.flex is None else api.flex
        o(f'    {{{api.key}, "{api.name}", {api.lo}, {api.hi}, {flex}}},')
    o("};")
    o()
    o("size_t kafka_api_info_count(void)")
    o("{")
    o("    return sizeof(kafka_api_infos) / sizeof(kafka_api_infos[0]);")
    o("}")
    o()
    o("const struct kafka_api_info *kafka_api_info_at(size_t i)")
    o("{")
    o("    return i < kafka_api_info_count() ? &kafka_api_infos[i] : NULL;")
    o("}")
    o()
    o("const struct kafka_api_info *kafka_api_info_get(int16_t api_key)")
    o("{")
    o("    for (size_t i = 0; i < kafka_api_info_count(); i++) {")
    o("        if (kafka_api_infos[i].api_key == api_key)")
    o("            return &kafka_api_infos[i];")
    o("    }")
    o("    return NULL;")
    o("}")
    o()
    o("int kafka_api_header_versions(int16_t api_key, int16_t version, int16_t *request_header,")
    o("                              int16_t *response_header, bool *flexible)")
    o("{")
    o("    const struct kafka_api_info *info = kafka_api_info_get(api_key);")
    o("    if (info == NULL || version < info->min_version || version > info->max_version)")
    o("        return KAFKA_CODEC_EVERSION;")
    o("    bool flex = info->flexible_from >= 0 && version >= info->flexible_from;")
    o("    if (request_header != NULL)")
    o("        *request_header = flex ? 2 : 1;")
    o("    if (response_header != NULL)")
    o(f"        *response_header = flex && api_key != {api_enum_name(find_api(apis, 18))} ? 1 : 0;")
    o("    if (flexible != NULL)")
    o("        *flexible = flex;")
    o("    return 0;")
    o("}")
    return o.text()


def find_api(apis, key):
    for api in apis:
        if api.key == key:
            return api
    raise SchemaError("the ApiVersions description (key 18) is required")


# ---------------------------------------------------------------------------------------------
# Test helpers: random population of every message, and a table of all messages.


def fill_value(o, api, f, ind, target, nullable):
    sp = " " * ind
    if f.struct:
        o(f"{sp}{f.struct.cname}_init(&{target});")
        o(f"{sp}TRY(fill_{f.struct.cname}(t, version, &{target}));")
    elif f.elem in PRIMS:
        o(f"{sp}kafka_test_fill_{PRIMS[f.elem][1]}(t, &{target});")
    else:
        o(f"{sp}TRY(kafka_test_fill_{VARLEN[f.elem][1]}(t, {nullable}, &{target}));")


def gen_fill(o, api, st):
    o(f"static int fill_{st.cname}(struct kafka_test_fill *t, int16_t version, "
      f"struct {st.cname} *m)")
    o("{")
    o("    (void)t;")
    o("    (void)m;")
    o("    (void)version;")
    for f in st.fields:
        cond = f.versions.cond(api)
        o(f"    if ({cond}) {{")
        if f.is_array:
            o(f"        TRY(kafka_test_fill_count(t, {nullable_expr(api, f)}, &m->{f.name}_count));")
            o(f"        if (m->{f.name}_count > 0) {{")
            o(f"            m->{f.cname} = kafka_arena_alloc_array(t->arena, "
              f"(size_t)m->{f.name}_count, sizeof(*m->{f.cname}));")
            o(f"            if (m->{f.cname} == NULL)")
            o("                return KAFKA_CODEC_ENOMEM;")
            o(f"            for (int32_t i = 0; i < m->{f.name}_count; i++) {{")
            fill_value(o, api, f, 16, f"m->{f.cname}[i]", "false")
            o("            }")
            o("        }")
        else:
            fill_value(o, api, f, 8, f"m->{f.cname}", nullable_expr(api, f))
        o("    }")
    o("    return 0;")
    o("}")
    o()


def gen_test_header():
    return """\
/* GENERATED by proto/kafka/gen_kafka_codec.py. Do not edit. Test-only helpers. */
#ifndef SLUICE_KAFKA_MESSAGES_TEST_H
#define SLUICE_KAFKA_MESSAGES_TEST_H

#include "kafka_messages.h"
#include "tests/unit/kafka_test_fill.h"

/* One message (request or response body) with type-erased codec entry points. */
struct kafka_test_message {
    const char *name;
    int16_t api_key;
    bool is_request;
    int16_t min_version;
    int16_t max_version;
    size_t size;
    void (*init)(void *m);
    /* Random value valid for `version`; arrays and strings come from t->arena. */
    int (*fill)(struct kafka_test_fill *t, int16_t version, void *m);
    int (*decode)(struct kafka_reader *r, int16_t version, void *m);
    int (*encode)(struct kafka_writer *w, int16_t version, const void *m);
};

extern const struct kafka_test_message kafka_test_messages[];
extern const size_t kafka_test_messages_count;

#endif
"""


def gen_test_source(apis):
    o = Out()
    o("/* GENERATED by proto/kafka/gen_kafka_codec.py. Do not edit. Test-only helpers. */")
    o('#include "kafka_messages_test.h"')
    o()
    gen_try_macro(o)
    o()
    for api in apis:
        for st in api.structs:
            o(f"static int fill_{st.cname}(struct kafka_test_fill *t, int16_t version, "
              f"struct {st.cname} *m);")
        for st in api.structs:
            gen_fill(o, api, st)
        for kind in ("request", "response"):
            st = api.messages[kind]
            c = st.cname
            o(f"static void init_{c}(void *m)")
            o("{")
            o(f"    {c}_init(m);")
            o("}")
            o(f"static int fill_any_{c}(struct kafka_test_fill *t, int16_t version, void *m)")
            o("{")
            o(f"    return fill_{c}(t, version, m);")
            o("}")
            o(f"static int decode_{c}(struct kafka_reader *r, int16_t version, void *m)")
            o("{")
            o(f"    return {c}_decode(r, version, m);")
            o("}")
            o(f"static int encode_{c}(struct kafka_writer *w, int16_t version, const void *m)")
            o("{")
            o(f"    return {c}_encode(w, version, m);")
            o("}")
            o()
    o("const struct kafka_test_message kafka_test_messages[] = {")
    for api in apis:
        for kind in ("request", "response"):
            c = api.messages[kind].cname
            o(f'    {{"{c}", {api.key}, {"true" if kind == "request" else "false"}, {api.lo}, '
              f"{api.hi}, sizeof(struct {c}), init_{c}, fill_any_{c}, decode_{c}, "
              f"encode_{c}}},")
    o("};")
    o("const size_t kafka_test_messages_count =")
    o("    sizeof(kafka_test_messages) / sizeof(kafka_test_messages[0]);")
    return o.text()


def write_if_changed(path, text):
    try:
        with open(path) as fh:
            if fh.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as fh:
        fh.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--header")
    ap.add_argument("--source")
    ap.add_argument("--test-header")
    ap.add_argument("--test-source")
    ap.add_argument("schemas", nargs="+")
    args = ap.parse_args()
    try:
        apis = sorted((parse_file(p) for p in args.schemas), key=lambda a: a.key)
        keys = [a.key for a in apis]
        if len(set(keys)) != len(keys):
            raise SchemaError("two descriptions use the same API key")
        header, source = gen_header(apis), gen_source(apis)
        tests = (gen_test_header(), gen_test_source(apis)) if args.test_header else None
    except SchemaError as e:
        print(f"gen_kafka_codec: {e}", file=sys.stderr)
        return 1
    if args.header:
        write_if_changed(args.header, header)
    if args.source:
        write_if_changed(args.source, source)
    if tests:
        write_if_changed(args.test_header, tests[0])
        write_if_changed(args.test_source, tests[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
