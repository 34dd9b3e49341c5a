/*
 * tests/fuzz/replay_main.h - main() for a fuzz harness built without
 * libFuzzer: runs LLVMFuzzerTestOneInput on every file named on the command
 * line (a corpus replay). Prints "replayed N inputs".
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        unsigned char *b = malloc((size_t)len + 1);
        if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(b, (size_t)len);
        free(b);
        n++;
    }
    printf("replayed %d inputs\n", n);
    return 0;
}
