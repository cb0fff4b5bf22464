// Output for people (aligned tables) and scripts (JSON), chosen with --output table|json.
// Internal to src/cli.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace riacho::cli {

enum class output_format { table, json };

// One value of a row: text, or a raw JSON literal (number, true/false/null) shown as text in
// tables.
struct cell {
    std::string text;
    bool raw_json = false;
};
cell str(std::string s);
cell num(int64_t v);
cell dbl(double v, int decimals = 2);
cell boolean(bool v);
cell null_cell();

// Rows under named columns. Column names are snake_case JSON keys; tables show them in
// upper case with spaces.
class table {
public:
    explicit table(std::vector<std::string> columns) : _columns(std::move(columns)) {}
    void add_row(std::vector<cell> row);
    size_t size() const { return _rows.size(); }
    // Table: a header line and aligned rows. JSON: an array of objects, one line.
    void print(output_format f, FILE* out = stdout) const;
    std::string to_json() const;
    std::string to_text() const;

private:
    std::vector<std::string> _columns;
    std::vector<std::vector<cell>> _rows;
};

// JSON string literal with escapes (control characters as \u00XX).
std::string json_quote(std::string_view s);

// A JSON object assembled field by field: obj.add("k", json_quote(v)); obj.str().
class json_object {
public:
    json_object& add(std::string_view key, const std::string& raw_json);
    json_object& add(std::string_view key, const cell& c);
    std::string str() const { return "{" + _body + "}"; }

private:
    std::string _body;
};

std::string json_array(const std::vector<std::string>& raw_items);

}  // namespace riacho::cli
