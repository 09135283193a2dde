// Zstandard streaming decompression, from Debian's libzstd-dev.
#include <zstd.h>
