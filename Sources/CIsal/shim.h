// ISA-L's igzip (fast inflate with gzip header/trailer handling), from Debian's libisal-dev.
#include <isa-l/igzip_lib.h>
