#ifndef BERTH_SHIM_H
#define BERTH_SHIM_H
int berth_shim_placeholder(void);
#endif
