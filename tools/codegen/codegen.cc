// placeholder: replaced by the real generator
#include <fstream>
#include <string>
int main(int argc, char** argv) {
    if (argc < 2) return 2;
    std::string dir = argv[1];
    std::system(("mkdir -p " + dir).c_str());
    std::ofstream(dir + "/api_catalog.h") << "#pragma once\n";
    std::ofstream(dir + "/api_catalog.cc") << "#include \"protocol/messages/api_catalog.h\"\n";
    return 0;
}
