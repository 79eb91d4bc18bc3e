/* ungil/ungil.h - the whole public C API of libungil in one include.
 * Each module has its own header; see them for ownership and threading. */
#ifndef UNGIL_UNGIL_H
#define UNGIL_UNGIL_H

#define UG_VERSION "0.1.0"

#include "ungil/error.h"
#include "ungil/trace.h"
#include "ungil/pool.h"
#include "ungil/par.h"
#include "ungil/fetch.h"
#include "ungil/path.h"
#include "ungil/image.h"
#include "ungil/pictures.h"

#endif
