#include "cli/output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace riacho::cli {

cell str(std::string s) { return cell{std::move(s), false}; }
cell num(int64_t v) { return cell{std::to_string(v), true}; }
cell dbl(double v, int decimals) { return cell{fmt::format("{:.{}f}", v, decimals), true}; }
cell boolean(bool v) { return cell{v ? "true" : "false", true}; }
cell null_cell() { return cell{"null", true}; }

std::string json_quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += fmt::format("\\u{:04x}", c);
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
    return out;
}

static std::string cell_json(const cell& c) { return c.raw_json ? c.text : json_quote(c.text); }

json_object& json_object::add(std::string_view key, const std::string& raw_json) {
    if (!_body.empty()) {
        _body += ',';
    }
    _body += json_quote(key);
    _body += ':';
    _body += raw_json;
    return *this;
}

json_object& json_object::add(std::string_view key, const cell& c) {
    return add(key, cell_json(c));
}

std::string json_array(const std::vector<std::string>& raw_items) {
    std::string out = "[";
    for (size_t i = 0; i < raw_items.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        out += raw_items[i];
    }
    return out + "]";
}

void table::add_row(std::vector<cell> row) {
    row.resize(_columns.size(), str(""));
    _rows.push_back(std::move(row));
}

std::string table::to_json() const {
    std::vector<std::string> items;
    items.reserve(_rows.size());
    for (const auto& row : _rows) {
        json_object o;
        for (size_t i = 0; i < _columns.size(); ++i) {
            o.add(_columns[i], row[i]);
        }
        items.push_back(o.str());
    }
    return json_array(items);
}

std::string table::to_text() const {
    std::vector<std::string> header;
    std::vector<size_t> width;
    for (const auto& c : _columns) {
        std::string h = c;
        std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) {
            return ch == '_' ? ' ' : static_cast<char>(std::toupper(ch));
        });
        width.push_back(h.size());
        header.push_back(std::move(h));
    }
    for (const auto& row : _rows) {
        for (size_t i = 0; i < row.size(); ++i) {
            width[i] = std::max(width[i], row[i].text.size());
        }
    }
    auto line = [&](auto get) {
        std::string out;
        for (size_t i = 0; i < _columns.size(); ++i) {
            const std::string& t = get(i);
            out += t;
            if (i + 1 < _columns.size()) {
                out.append(width[i] - t.size() + 2, ' ');
            }
        }
        out += '\n';
        return out;
    };
    std::string out = line([&](size_t i) -> const std::string& { return header[i]; });
    for (const auto& row : _rows) {
        out += line([&](size_t i) -> const std::string& { return row[i].text; });
    }
    return out;
}

void table::print(output_format f, FILE* out) const {
    std::string s = f == output_format::json ? to_json() + "\n" : to_text();
    std::fwrite(s.data(), 1, s.size(), out);
}

}  // namespace riacho::cli
