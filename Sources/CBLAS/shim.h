#ifndef XLSWEEP_CBLAS_SHIM_H
#define XLSWEEP_CBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS extensions (declared in its cblas.h on Debian): thread control and kernel name. */
#endif
