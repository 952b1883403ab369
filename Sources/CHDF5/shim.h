#ifndef XLSWEEP_CHDF5_SHIM_H
#define XLSWEEP_CHDF5_SHIM_H
#include <hdf5.h>
#include <hdf5_hl.h>

/* HDF5 "constants" are macros over library globals that Swift cannot import; expose them as functions. */
static inline hid_t xl_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t xl_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t xl_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t xl_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t xl_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t xl_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t xl_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t xl_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline unsigned xl_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned xl_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline hid_t xl_H5S_ALL(void) { return H5S_ALL; }
static inline hsize_t xl_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline hid_t xl_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline hid_t xl_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline size_t xl_H5T_VARIABLE(void) { return H5T_VARIABLE; }
/// IEEE 754 binary16 in a file (HDF5 has no predefined half type; h5py reads this as float16).
/// The caller closes it with H5Tclose.
static inline hid_t xl_H5T_IEEE_F16LE(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}
#endif
