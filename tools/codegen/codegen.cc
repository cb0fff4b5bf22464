// riacho_codegen: turns the project's schema files (src/protocol/schemas/*.schema) into C++
// message types with decode/encode for every version, at build time.
//
// Schema format (ours; the facts are transcribed from Kafka's message specs):
//   # comment
//   api <key> <name>          | data <name>        one per file
//   listeners <names>         optional, api files: broker and/or controller (Kafka's
//                             "listeners"); default broker. An API whose only listener is
//                             controller is controller_only in the API catalog, so the
//                             broker's ApiVersions does not advertise it.
//   valid <versions>          e.g. 0-11
//   flexible <versions>       e.g. 9+ or none
//   request | response | data section headers (api files have request and response)
//   <indent>struct <name> <versions>            a shared struct; its fields are indented below
//   <indent><field> <type> <versions> [nullable=V] [tag=N] [default=X] [flexible=none]
// Types: bool int8 int16 int32 int64 uint16 uint32 float64 uuid string bytes records,
// []<primitive>, <struct>, []<struct>. A struct-typed field either lists its fields indented
// below it or names a shared struct. Indentation is two spaces per level.
//
// Usage: riacho_codegen <output dir> <schema files...>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct versions {
    int min = 0;
    int max = -1;  // -1 with min 0 and none=true means "none"
    bool none = false;
    bool open = false;
};

versions parse_versions(const std::string& s) {
    versions v;
    if (s == "none") {
        v.none = true;
        return v;
    }
    if (!s.empty() && s.back() == '+') {
        v.min = std::stoi(s.substr(0, s.size() - 1));
        v.max = 32767;
        v.open = true;
        return v;
    }
    auto dash = s.find('-');
    if (dash == std::string::npos) {
        v.min = v.max = std::stoi(s);
    } else {
        v.min = std::stoi(s.substr(0, dash));
        v.max = std::stoi(s.substr(dash + 1));
    }
    return v;
}

std::string version_check(const versions& v, const std::string& var = "version") {
    if (v.none) {
        return "false";
    }
    if (v.open) {
        return v.min == 0 ? "true" : var + " >= " + std::to_string(v.min);
    }
    if (v.min == v.max) {
        return var + " == " + std::to_string(v.min);
    }
    return "(" + var + " >= " + std::to_string(v.min) + " && " + var +
           " <= " + std::to_string(v.max) + ")";
}

struct struct_def;

struct field_def {
    std::string name;
    std::string type;  // as written
    versions vers;
    bool has_nullable = false;
    versions nullable;
    int tag = -1;
    std::string default_value;
    bool flexible_none = false;
    std::shared_ptr<struct_def> inline_struct;  // fields listed below the field
    int line = 0;

    bool is_array() const { return type.rfind("[]", 0) == 0; }
    std::string element_type() const { return is_array() ? type.substr(2) : type; }
};

struct struct_def {
    std::string name;
    std::vector<field_def> fields;
};

struct message_def {
    std::string kind;  // request, response, data
    std::vector<std::shared_ptr<struct_def>> shared_structs;
    std::shared_ptr<struct_def> root;
};

struct schema_file {
    std::string path;
    std::string name;
    int api_key = -1;
    bool controller_only = false;  // `listeners controller`
    versions valid;
    versions flexible;
    std::vector<std::string> comments;
    std::vector<message_def> messages;
};

const std::set<std::string> primitive_types = {"bool",  "int8",   "int16",  "int32",
                                               "int64", "uint16", "uint32", "float64",
                                               "uuid",  "string", "bytes",  "records"};

const std::set<std::string> cpp_keywords = {
    "default",  "operator", "delete",    "new",       "class",    "struct", "union",
    "template", "this",     "type",      "namespace", "register", "switch", "case",
    "public",   "private",  "protected", "friend",    "virtual"};

[[noreturn]] void fail(const std::string& path, int line, const std::string& msg) {
    throw std::runtime_error(path + ":" + std::to_string(line) + ": " + msg);
}

std::string member_name(const std::string& n) { return cpp_keywords.count(n) ? n + "_" : n; }

struct raw_line {
    int indent;
    std::vector<std::string> words;
    int number;
};

std::vector<std::string> split_words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    std::string w;
    while (in >> w) {
        out.push_back(w);
    }
    return out;
}

schema_file parse_schema(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    schema_file sf;
    sf.path = path;
    std::vector<raw_line> lines;
    std::string text;
    int number = 0;
    while (std::getline(in, text)) {
        ++number;
        if (text.find_first_not_of(' ') == std::string::npos) {
            continue;
        }
        size_t indent = text.find_first_not_of(' ');
        if (text[indent] == '#') {
            if (indent == 0 && sf.messages.empty() && lines.empty()) {
                sf.comments.push_back(text.substr(1));
            }
            continue;
        }
        if (indent % 2 != 0) {
            fail(path, number, "indentation must be a multiple of two spaces");
        }
        lines.push_back({static_cast<int>(indent / 2), split_words(text), number});
    }

    size_t i = 0;
    int listeners_line = 0;
    // Header lines at indent 0 until the first section.
    for (; i < lines.size() && lines[i].indent == 0; ++i) {
        const auto& w = lines[i].words;
        if (w[0] == "api" && w.size() == 3) {
            sf.api_key = std::stoi(w[1]);
            sf.name = w[2];
        } else if (w[0] == "data" && w.size() == 2) {
            sf.name = w[1];
        } else if (w[0] == "listeners" && w.size() >= 2) {
            listeners_line = lines[i].number;
            std::set<std::string> names(w.begin() + 1, w.end());
            for (const auto& n : names) {
                if (n != "broker" && n != "controller") {
                    fail(path, lines[i].number, "unknown listener " + n);
                }
            }
            sf.controller_only = names.count("broker") == 0;
        } else if (w[0] == "valid" && w.size() == 2) {
            sf.valid = parse_versions(w[1]);
        } else if (w[0] == "flexible" && w.size() == 2) {
            sf.flexible = parse_versions(w[1]);
        } else if (w.size() == 1 && (w[0] == "request" || w[0] == "response" || w[0] == "data")) {
            break;
        } else {
            fail(path, lines[i].number, "unknown header line");
        }
    }
    if (sf.name.empty()) {
        fail(path, 1, "missing 'api <key> <name>' or 'data <name>'");
    }
    if (listeners_line != 0 && sf.api_key < 0) {
        fail(path, listeners_line, "'listeners' belongs to api files only");
    }

    // Recursive parse of fields at a given indent.
    std::function<void(size_t&, int, struct_def&, message_def&)> parse_fields;
    parse_fields = [&](size_t& pos, int indent, struct_def& into, message_def& msg) {
        while (pos < lines.size() && lines[pos].indent == indent) {
            const auto& ln = lines[pos];
            const auto& w = ln.words;
            if (w[0] == "struct") {
                if (w.size() != 3) {
                    fail(path, ln.number, "expected 'struct <name> <versions>'");
                }
                auto s = std::make_shared<struct_def>();
                s->name = w[1];
                ++pos;
                parse_fields(pos, indent + 1, *s, msg);
                msg.shared_structs.push_back(s);
                continue;
            }
            if (w.size() < 3) {
                fail(path, ln.number, "expected '<name> <type> <versions> [attrs]'");
            }
            field_def f;
            f.name = w[0];
            f.type = w[1];
            f.vers = parse_versions(w[2]);
            f.line = ln.number;
            for (size_t k = 3; k < w.size(); ++k) {
                auto eq = w[k].find('=');
                if (eq == std::string::npos) {
                    fail(path, ln.number, "attribute without '=': " + w[k]);
                }
                std::string key = w[k].substr(0, eq);
                std::string value = w[k].substr(eq + 1);
                if (key == "nullable") {
                    f.has_nullable = true;
                    f.nullable = parse_versions(value);
                } else if (key == "tag") {
                    f.tag = std::stoi(value);
                } else if (key == "default") {
                    f.default_value = value;
                } else if (key == "flexible") {
                    if (value != "none") {
                        fail(path, ln.number, "only flexible=none is supported on a field");
                    }
                    f.flexible_none = true;
                } else {
                    fail(path, ln.number, "unknown attribute " + key);
                }
            }
            ++pos;
            if (pos < lines.size() && lines[pos].indent == indent + 1) {
                f.inline_struct = std::make_shared<struct_def>();
                f.inline_struct->name = f.element_type();
                parse_fields(pos, indent + 1, *f.inline_struct, msg);
            }
            into.fields.push_back(std::move(f));
        }
        if (pos < lines.size() && lines[pos].indent > indent) {
            fail(path, lines[pos].number, "unexpected indentation");
        }
    };

    while (i < lines.size()) {
        const auto& ln = lines[i];
        if (ln.indent != 0 || ln.words.size() != 1) {
            fail(path, ln.number, "expected a section: request, response or data");
        }
        message_def msg;
        msg.kind = ln.words[0];
        msg.root = std::make_shared<struct_def>();
        ++i;
        parse_fields(i, 1, *msg.root, msg);
        sf.messages.push_back(std::move(msg));
    }
    return sf;
}

// ---------------------------------------------------------------------------------------
// Emission

struct emitter {
    const schema_file& sf;
    const message_def& msg;
    std::map<std::string, std::shared_ptr<struct_def>> shared;
    std::ostringstream h;
    std::ostringstream cc;
    std::string top_name;

    bool is_struct_type(const field_def& f) const {
        return primitive_types.count(f.element_type()) == 0;
    }

    std::string prim_cpp(const std::string& t) const {
        if (t == "bool") return "bool";
        if (t == "int8") return "int8_t";
        if (t == "int16") return "int16_t";
        if (t == "int32") return "int32_t";
        if (t == "int64") return "int64_t";
        if (t == "uint16") return "uint16_t";
        if (t == "uint32") return "uint32_t";
        if (t == "float64") return "double";
        if (t == "uuid") return "::riacho::protocol::uuid";
        if (t == "string") return "std::string";
        if (t == "bytes") return "std::vector<uint8_t>";
        if (t == "records") return "::riacho::protocol::records_data";
        return t;  // a struct name
    }

    std::string field_cpp(const field_def& f) const {
        std::string elem = prim_cpp(f.element_type());
        if (f.is_array()) {
            std::string v = "std::vector<" + elem + ">";
            return f.has_nullable ? "std::optional<" + v + ">" : v;
        }
        if (f.has_nullable && (f.type == "string" || f.type == "bytes" || is_struct_type(f))) {
            return "std::optional<" + elem + ">";
        }
        return elem;
    }

    std::string default_init(const field_def& f) const {
        const std::string& d = f.default_value;
        if (f.is_array() || is_struct_type(f) || f.type == "records" || f.type == "uuid" ||
            f.type == "bytes") {
            return "";
        }
        if (f.type == "string") {
            if (d == "null" || f.has_nullable) {
                return d.empty() || d == "null" ? "" : " = std::string(\"" + d + "\")";
            }
            return d.empty() ? "" : " = \"" + d + "\"";
        }
        if (f.type == "bool") {
            return " = " + (d.empty() ? std::string("false") : d);
        }
        return " = " + (d.empty() ? std::string("0") : d);
    }

    void emit_struct_decl(const struct_def& s, int depth, bool is_root) {
        std::string ind(static_cast<size_t>(depth) * 4, ' ');
        if (!is_root) {
            h << ind << "struct " << s.name << " {\n";
        }
        std::string in2 = is_root ? ind : ind + "    ";
        // Nested inline structs first, so members can use them.
        for (const auto& f : s.fields) {
            if (f.inline_struct) {
                emit_struct_decl(*f.inline_struct, is_root ? depth : depth + 1, false);
            }
        }
        for (const auto& f : s.fields) {
            h << in2 << field_cpp(f) << " " << member_name(f.name) << default_init(f) << ";\n";
        }
        h << in2 << "void decode(::riacho::protocol::reader& r, int16_t version);\n";
        h << in2 << "void encode(::riacho::protocol::writer& w, int16_t version) const;\n";
        h << in2 << "bool operator==(const " << (is_root ? top_name : s.name)
          << "&) const = default;\n";
        if (!is_root) {
            h << ind << "};\n";
        }
    }

    std::string flex_expr(const field_def& f) const {
        if (f.flexible_none || sf.flexible.none) {
            return "false";
        }
        return version_check(sf.flexible);
    }

    // Decode one value of primitive type `t` into lvalue `target`.
    void decode_value(std::ostringstream& o,
                      const std::string& ind,
                      const field_def& f,
                      const std::string& target,
                      const std::string& reader) {
        std::string t = f.element_type();
        std::string flex = flex_expr(f);
        bool nullable = f.has_nullable;
        if (t == "bool")
            o << ind << target << " = " << reader << ".read_bool();\n";
        else if (t == "int8")
            o << ind << target << " = " << reader << ".read_int8();\n";
        else if (t == "int16")
            o << ind << target << " = " << reader << ".read_int16();\n";
        else if (t == "int32")
            o << ind << target << " = " << reader << ".read_int32();\n";
        else if (t == "int64")
            o << ind << target << " = " << reader << ".read_int64();\n";
        else if (t == "uint16")
            o << ind << target << " = " << reader << ".read_uint16();\n";
        else if (t == "uint32")
            o << ind << target << " = " << reader << ".read_uint32();\n";
        else if (t == "float64")
            o << ind << target << " = " << reader << ".read_float64();\n";
        else if (t == "uuid")
            o << ind << target << " = " << reader << ".read_uuid();\n";
        else if (t == "string") {
            if (nullable && !f.is_array()) {
                o << ind << "if (" << version_check(f.nullable) << ") {\n"
                  << ind << "    " << target << " = " << reader << ".read_nullable_string(" << flex
                  << ");\n"
                  << ind << "} else {\n"
                  << ind << "    " << target << " = " << reader << ".read_string(" << flex << ");\n"
                  << ind << "}\n";
            } else {
                o << ind << target << " = " << reader << ".read_string(" << flex << ");\n";
            }
        } else if (t == "bytes") {
            if (nullable && !f.is_array()) {
                o << ind << "if (" << version_check(f.nullable) << ") {\n"
                  << ind << "    " << target << " = " << reader << ".read_nullable_bytes(" << flex
                  << ");\n"
                  << ind << "} else {\n"
                  << ind << "    " << target << " = " << reader << ".read_bytes(" << flex << ");\n"
                  << ind << "}\n";
            } else {
                o << ind << target << " = " << reader << ".read_bytes(" << flex << ");\n";
            }
        } else if (t == "records") {
            o << ind << target << " = " << reader << ".read_records(" << flex << ");\n";
        } else {
            o << ind << target << ".decode(" << reader << ", version);\n";
        }
    }

    void decode_field(std::ostringstream& o,
                      const std::string& ind,
                      const field_def& f,
                      const std::string& reader) {
        std::string m = member_name(f.name);
        if (!f.is_array() && f.has_nullable && is_struct_type(f)) {
            // A nullable struct: an int8 marker (-1 null, 1 present) where it is nullable.
            o << ind << "if (" << version_check(f.nullable) << " && " << reader
              << ".read_int8() < 0) {\n"
              << ind << "    " << m << ".reset();\n"
              << ind
              << "} else {\n"
              // Not emplace(): clang 14 decides std::optional of a nested struct with default
              // member initializers is not default-constructible (the trait is evaluated
              // before the enclosing class is complete) and refuses it.
              << ind << "    " << m << " = std::remove_cvref_t<decltype(*" << m << ")>{};\n"
              << ind << "    " << m << "->decode(" << reader << ", version);\n"
              << ind << "}\n";
            return;
        }
        if (!f.is_array()) {
            decode_value(o, ind, f, m, reader);
            return;
        }
        std::string flex = flex_expr(f);
        o << ind << "{\n";
        o << ind << "    int32_t n = " << reader << ".read_array_length(" << flex << ");\n";
        if (f.has_nullable) {
            o << ind << "    if (n < 0) {\n"
              << ind << "        if (!(" << version_check(f.nullable) << ")) " << reader
              << ".fail();\n"
              << ind << "        " << m << ".reset();\n"
              << ind << "    } else {\n"
              << ind << "        " << m << ".emplace();\n"
              << ind << "        " << m << "->resize(static_cast<size_t>(n));\n"
              << ind << "        for (auto& e : *" << m << ") {\n";
            field_def ef = f;
            ef.type = f.element_type();
            ef.has_nullable = false;
            decode_value(o, ind + "            ", ef, "e", reader);
            o << ind << "            if (!" << reader << ".ok()) break;\n"
              << ind << "        }\n"
              << ind << "    }\n";
        } else {
            o << ind << "    if (n < 0) " << reader << ".fail();\n"
              << ind << "    " << m << ".clear();\n"
              << ind << "    if (n > 0) {\n"
              << ind << "        " << m << ".resize(static_cast<size_t>(n));\n"
              << ind << "        for (auto& e : " << m << ") {\n";
            field_def ef = f;
            ef.type = f.element_type();
            ef.has_nullable = false;
            decode_value(o, ind + "            ", ef, "e", reader);
            o << ind << "            if (!" << reader << ".ok()) break;\n"
              << ind << "        }\n"
              << ind << "    }\n";
        }
        o << ind << "}\n";
    }

    void encode_value(std::ostringstream& o,
                      const std::string& ind,
                      const field_def& f,
                      const std::string& value,
                      const std::string& w) {
        std::string t = f.element_type();
        std::string flex = flex_expr(f);
        if (t == "bool")
            o << ind << w << ".write_bool(" << value << ");\n";
        else if (t == "int8")
            o << ind << w << ".write_int8(" << value << ");\n";
        else if (t == "int16")
            o << ind << w << ".write_int16(" << value << ");\n";
        else if (t == "int32")
            o << ind << w << ".write_int32(" << value << ");\n";
        else if (t == "int64")
            o << ind << w << ".write_int64(" << value << ");\n";
        else if (t == "uint16")
            o << ind << w << ".write_uint16(" << value << ");\n";
        else if (t == "uint32")
            o << ind << w << ".write_uint32(" << value << ");\n";
        else if (t == "float64")
            o << ind << w << ".write_float64(" << value << ");\n";
        else if (t == "uuid")
            o << ind << w << ".write_uuid(" << value << ");\n";
        else if (t == "string") {
            if (f.has_nullable && !f.is_array()) {
                o << ind << "if (" << version_check(f.nullable) << ") {\n"
                  << ind << "    " << w << ".write_nullable_string(" << value << ", " << flex
                  << ");\n"
                  << ind << "} else {\n"
                  << ind << "    " << w << ".write_string(" << value << " ? *" << value
                  << " : std::string(), " << flex << ");\n"
                  << ind << "}\n";
                ;
            } else {
                o << ind << w << ".write_string(" << value << ", " << flex << ");\n";
            }
        } else if (t == "bytes") {
            if (f.has_nullable && !f.is_array()) {
                o << ind << "if (" << version_check(f.nullable) << ") {\n"
                  << ind << "    " << w << ".write_nullable_bytes(" << value << ", " << flex
                  << ");\n"
                  << ind << "} else {\n"
                  << ind << "    " << w << ".write_bytes(" << value
                  << " ? ::riacho::protocol::bytes_view(*" << value
                  << ") : ::riacho::protocol::bytes_view(), " << flex << ");\n"
                  << ind << "}\n";
                ;
            } else {
                o << ind << w << ".write_bytes(" << value << ", " << flex << ");\n";
            }
        } else if (t == "records") {
            o << ind << w << ".write_records(" << value << ", " << flex << ");\n";
        } else {
            o << ind << value << ".encode(" << w << ", version);\n";
        }
    }

    void encode_field(std::ostringstream& o,
                      const std::string& ind,
                      const field_def& f,
                      const std::string& w) {
        std::string m = member_name(f.name);
        if (!f.is_array() && f.has_nullable && is_struct_type(f)) {
            // Null where the struct is not nullable goes out as its default value.
            o << ind << "if (" << version_check(f.nullable) << ") {\n"
              << ind << "    " << w << ".write_int8(" << m << " ? 1 : -1);\n"
              << ind << "}\n"
              << ind << "if (" << m << ") {\n"
              << ind << "    " << m << "->encode(" << w << ", version);\n"
              << ind << "} else if (!(" << version_check(f.nullable) << ")) {\n"
              << ind << "    decltype(" << m << ")::value_type{}.encode(" << w << ", version);\n"
              << ind << "}\n";
            return;
        }
        if (!f.is_array()) {
            encode_value(o, ind, f, m, w);
            return;
        }
        std::string flex = flex_expr(f);
        field_def ef = f;
        ef.type = f.element_type();
        ef.has_nullable = false;
        if (f.has_nullable) {
            // Null in a version where the field is not nullable goes out as empty: the
            // nearest legal value, and the same meaning where Kafka defines both.
            o << ind << "if (!" << m << ") {\n"
              << ind << "    " << w << ".write_array_length((" << version_check(f.nullable)
              << ") ? -1 : 0, " << flex << ");\n"
              << ind << "} else {\n"
              << ind << "    " << w << ".write_array_length(static_cast<int32_t>(" << m
              << "->size()), " << flex << ");\n"
              << ind << "    for (const auto& e : *" << m << ") {\n";
            encode_value(o, ind + "        ", ef, "e", w);
            o << ind << "    }\n" << ind << "}\n";
        } else {
            o << ind << w << ".write_array_length(static_cast<int32_t>(" << m << ".size()), "
              << flex << ");\n"
              << ind << "for (const auto& e : " << m << ") {\n";
            encode_value(o, ind + "    ", ef, "e", w);
            o << ind << "}\n";
        }
    }

    // Whether a tagged field holds its default (then it is not written).
    std::string is_default_expr(const field_def& f) const {
        std::string m = member_name(f.name);
        if (f.is_array()) {
            return f.has_nullable ? "!" + m + ".has_value()" : m + ".empty()";
        }
        if (is_struct_type(f)) {
            return m + " == decltype(" + m + "){}";
        }
        std::string t = f.type;
        if (t == "string") {
            if (f.has_nullable) {
                return f.default_value == "null" || f.default_value.empty()
                           ? "!" + m + ".has_value()"
                           : "(" + m + " && *" + m + " == \"" + f.default_value + "\")";
            }
            return m + " == \"" + f.default_value + "\"";
        }
        if (t == "bytes") {
            return f.has_nullable ? "!" + m + ".has_value()" : m + ".empty()";
        }
        if (t == "uuid") {
            return m + ".is_zero()";
        }
        if (t == "records") {
            return m + ".is_null";
        }
        std::string d = f.default_value.empty() ? (t == "bool" ? "false" : "0") : f.default_value;
        return m + " == " + d;
    }

    void emit_struct_defs(const struct_def& s, const std::string& qual, bool is_root) {
        for (const auto& f : s.fields) {
            if (f.inline_struct) {
                emit_struct_defs(*f.inline_struct, qual + "::" + f.inline_struct->name, false);
            }
        }
        (void)is_root;
        std::vector<const field_def*> tagged;
        for (const auto& f : s.fields) {
            if (f.tag >= 0) {
                tagged.push_back(&f);
            }
        }
        std::sort(tagged.begin(), tagged.end(),
                  [](const field_def* a, const field_def* b) { return a->tag < b->tag; });
        bool flexible_possible = !sf.flexible.none;

        // decode
        cc << "void " << qual << "::decode(::riacho::protocol::reader& r, int16_t version) {\n";
        cc << "    (void)version;\n";
        for (const auto& f : s.fields) {
            if (f.tag >= 0) {
                continue;
            }
            cc << "    if (" << version_check(f.vers) << ") {\n";
            decode_field(cc, "        ", f, "r");
            cc << "    }\n";
        }
        if (flexible_possible) {
            cc << "    if (" << version_check(sf.flexible) << ") {\n";
            if (tagged.empty()) {
                cc << "        r.skip_tagged_fields();\n";
            } else {
                cc << "        uint32_t tag_count = r.read_uvarint();\n"
                   << "        for (uint32_t t = 0; t < tag_count && r.ok(); ++t) {\n"
                   << "            uint32_t tag = r.read_uvarint();\n"
                   << "            uint32_t size = r.read_uvarint();\n"
                   << "            ::riacho::protocol::reader tr(r.read_raw(size));\n"
                   << "            switch (tag) {\n";
                for (const auto* f : tagged) {
                    cc << "                case " << f->tag << ":\n"
                       << "                    if (" << version_check(f->vers) << ") {\n";
                    decode_field(cc, "                        ", *f, "tr");
                    cc << "                        if (!tr.ok()) r.fail();\n"
                       << "                    }\n"
                       << "                    break;\n";
                }
                cc << "                default:\n"
                   << "                    break;\n"
                   << "            }\n"
                   << "        }\n";
            }
            cc << "    }\n";
        }
        cc << "}\n\n";

        // encode
        cc << "void " << qual
           << "::encode(::riacho::protocol::writer& w, int16_t version) const {\n";
        cc << "    (void)version;\n";
        for (const auto& f : s.fields) {
            if (f.tag >= 0) {
                continue;
            }
            cc << "    if (" << version_check(f.vers) << ") {\n";
            encode_field(cc, "        ", f, "w");
            cc << "    }\n";
        }
        if (flexible_possible) {
            cc << "    if (" << version_check(sf.flexible) << ") {\n";
            if (tagged.empty()) {
                cc << "        w.write_empty_tagged_fields();\n";
            } else {
                cc << "        uint32_t tag_count = 0;\n";
                for (const auto* f : tagged) {
                    cc << "        if (" << version_check(f->vers) << " && !("
                       << is_default_expr(*f) << ")) ++tag_count;\n";
                }
                cc << "        w.write_uvarint(tag_count);\n";
                for (const auto* f : tagged) {
                    cc << "        if (" << version_check(f->vers) << " && !("
                       << is_default_expr(*f) << ")) {\n"
                       << "            ::riacho::protocol::writer tw;\n";
                    encode_field(cc, "            ", *f, "tw");
                    cc << "            w.write_uvarint(" << f->tag << ");\n"
                       << "            "
                          "w.write_uvarint(static_cast<uint32_t>(tw.buffer().size()));\n"
                       << "            w.write_raw(tw.buffer().data(), tw.buffer().size());\n"
                       << "        }\n";
                }
            }
            cc << "    }\n";
        }
        cc << "}\n\n";
    }

    void emit() {
        top_name = msg.kind == "data" ? sf.name : sf.name + "_" + msg.kind;
        h << "struct " << top_name << " {\n";
        if (sf.api_key >= 0) {
            h << "    static constexpr int16_t api_key = " << sf.api_key << ";\n";
        }
        h << "    static constexpr int16_t min_version = " << sf.valid.min << ";\n";
        h << "    static constexpr int16_t max_version = " << sf.valid.max << ";\n";
        h << "    static constexpr int16_t first_flexible_version = "
          << (sf.flexible.none ? 32767 : sf.flexible.min) << ";\n";
        for (const auto& s : msg.shared_structs) {
            emit_struct_decl(*s, 1, false);
        }
        emit_struct_decl(*msg.root, 1, true);
        h << "};\n\n";

        for (const auto& s : msg.shared_structs) {
            emit_struct_defs(*s, top_name + "::" + s->name, false);
        }
        emit_struct_defs(*msg.root, top_name, true);
    }
};

std::string camel(const std::string& snake) {
    std::string out;
    bool up = true;
    for (char c : snake) {
        if (c == '_') {
            up = true;
            continue;
        }
        out.push_back(up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
        up = false;
    }
    return out;
}

void write_if_changed(const std::filesystem::path& p, const std::string& content) {
    std::ifstream in(p);
    if (in) {
        std::stringstream old;
        old << in.rdbuf();
        if (old.str() == content) {
            return;
        }
    }
    std::ofstream out(p);
    out << content;
    if (!out) {
        throw std::runtime_error("cannot write " + p.string());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: riacho_codegen <output dir> <schema files...>\n");
        return 2;
    }
    try {
        std::filesystem::path out_dir = argv[1];
        std::filesystem::create_directories(out_dir);
        std::vector<schema_file> files;
        for (int i = 2; i < argc; ++i) {
            files.push_back(parse_schema(argv[i]));
        }
        std::sort(files.begin(), files.end(),
                  [](const schema_file& a, const schema_file& b) { return a.name < b.name; });
        for (const auto& sf : files) {
            std::ostringstream h;
            std::ostringstream cc;
            h << "// Generated by riacho_codegen from "
              << std::filesystem::path(sf.path).filename().string() << ". Do not edit.\n";
            for (const auto& c : sf.comments) {
                h << "//" << c << "\n";
            }
            h << "#pragma once\n\n#include <cstdint>\n#include <optional>\n#include <string>\n"
                 "#include <vector>\n\n#include \"protocol/wire.h\"\n\n"
                 "namespace riacho::protocol::msg {\n\n";
            cc << "// Generated by riacho_codegen. Do not edit.\n#include \"protocol/messages/"
               << std::filesystem::path(sf.path).stem().string()
               << ".h\"\n\n#include <type_traits>\n\nnamespace riacho::protocol::msg {\n\n";
            for (const auto& m : sf.messages) {
                emitter e{sf, m, {}, {}, {}, {}};
                e.emit();
                h << e.h.str();
                cc << e.cc.str();
            }
            h << "}  // namespace riacho::protocol::msg\n";
            cc << "}  // namespace riacho::protocol::msg\n";
            std::string stem = std::filesystem::path(sf.path).stem().string();
            write_if_changed(out_dir / (stem + ".h"), h.str());
            write_if_changed(out_dir / (stem + ".cc"), cc.str());
        }

        // The API catalog: what we implement, the single source for ApiVersions.
        std::ostringstream h;
        h << "// Generated by riacho_codegen. Do not edit.\n"
             "// Every API with a schema file: key, name, implemented versions, first flexible.\n"
             "#pragma once\n\n#include <cstdint>\n#include <span>\n\n"
             "namespace riacho::protocol {\n\n"
             "struct api_info {\n    int16_t key;\n    const char* name;\n    int16_t "
             "min_version;\n"
             "    int16_t max_version;\n    int16_t first_flexible_version;\n"
             "    // Served on the controller listener only: ApiVersions on the broker listener\n"
             "    // leaves it out (schema line `listeners controller`).\n"
             "    bool controller_only;\n\n"
             "    bool is_flexible(int16_t v) const { return v >= first_flexible_version; }\n"
             "};\n\n"
             "std::span<const api_info> all_apis();\n"
             "const api_info* find_api(int16_t key);\n\n"
             "namespace api_keys {\n";
        for (const auto& sf : files) {
            if (sf.api_key >= 0) {
                h << "inline constexpr int16_t " << sf.name << " = " << sf.api_key << ";\n";
            }
        }
        h << "}  // namespace api_keys\n\n}  // namespace riacho::protocol\n";
        std::ostringstream cc;
        cc << "// Generated by riacho_codegen. Do not edit.\n"
              "#include \"protocol/messages/api_catalog.h\"\n\n#include <array>\n\n"
              "namespace riacho::protocol {\nnamespace {\n"
              "constexpr api_info apis[] = {\n";
        std::vector<const schema_file*> by_key;
        for (const auto& sf : files) {
            if (sf.api_key >= 0) {
                by_key.push_back(&sf);
            }
        }
        std::sort(by_key.begin(), by_key.end(),
                  [](auto* a, auto* b) { return a->api_key < b->api_key; });
        for (const auto* sf : by_key) {
            cc << "    {" << sf->api_key << ", \"" << camel(sf->name) << "\", " << sf->valid.min
               << ", " << sf->valid.max << ", " << (sf->flexible.none ? 32767 : sf->flexible.min)
               << ", " << (sf->controller_only ? "true" : "false") << "},\n";
        }
        if (by_key.empty()) {
            cc << "    {-1, \"none\", 0, -1, 32767, false},\n";
        }
        cc << "};\n}  // namespace\n\n"
              "std::span<const api_info> all_apis() { return {apis, "
           << (by_key.empty() ? "0" : "std::size(apis)")
           << "}; }\n\n"
              "const api_info* find_api(int16_t key) {\n"
              "    for (const auto& a : all_apis()) {\n"
              "        if (a.key == key) return &a;\n"
              "    }\n"
              "    return nullptr;\n"
              "}\n\n}  // namespace riacho::protocol\n";
        write_if_changed(out_dir / "api_catalog.h", h.str());
        write_if_changed(out_dir / "api_catalog.cc", cc.str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "riacho_codegen: %s\n", e.what());
        return 1;
    }
    return 0;
}
