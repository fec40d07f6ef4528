// Replays fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer: each argument
// is a file or a directory of files. Used when the compiler cannot build a libFuzzer
// binary (gcc), so the corpus still runs as a test (under ASan in `make sanitize`).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::size_t n = 0;
    auto run = [&](const fs::path& p) {
        std::ifstream f(p, std::ios::binary);
        std::vector<char> buf((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
        // An exact-size heap copy, so ASan sees any read past the input.
        auto* copy = new std::uint8_t[buf.size()];
        std::copy(buf.begin(), buf.end(), copy);
        LLVMFuzzerTestOneInput(copy, buf.size());
        delete[] copy;
        ++n;
    };
    for (int i = 1; i < argc; ++i) {
        fs::path p(argv[i]);
        if (fs::is_directory(p)) {
            for (auto& e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file()) run(e.path());
        } else if (fs::is_regular_file(p)) {
            run(p);
        } else {
            std::fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            return 2;
        }
    }
    std::printf("replayed %zu inputs\n", n);
    return n ? 0 : 1;
}
