#ifndef XLSWEEP_CZEROMQ_SHIM_H
#define XLSWEEP_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
