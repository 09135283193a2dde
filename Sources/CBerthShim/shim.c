#include "berth_shim.h"
int berth_shim_placeholder(void) { return 0; }
