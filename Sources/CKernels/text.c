#include "CKernelsText.h"

#include <stdio.h>

int mcc_format_double_g17(double value, char *buffer, size_t size) {
    int n = snprintf(buffer, size, "%.17g", value);
    return (n < 0 || (size_t)n >= size) ? 0 : n;
}
