#include <cblas.h>
extern char *openblas_get_corename(void);
