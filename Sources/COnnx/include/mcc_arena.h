// A protobuf-c allocator that serves one unpack from a single pre-faulted anonymous mapping.
//
// Unpacking a large TensorProto or Constant node copies megabytes of raw_data into fresh heap pages, and the
// first touch of each 4 KiB page is a page fault: thousands per model, a large share of a compile's wall time.
// The arena maps room for the whole message at once with MAP_POPULATE (one system call, no per-page faults);
// allocations that do not fit fall back to malloc. Freeing an arena allocation is a no-op: the mapping goes
// away with mcc_arena_destroy, after protobuf-c has freed the message.
#pragma once
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct MccArena {
    ProtobufCAllocator allocator;  // pass &arena->allocator to *_unpack and *_free_unpacked
    unsigned char *base;
    size_t capacity;
    size_t used;
} MccArena;

// NULL when the mapping cannot be made (then use the default allocator).
MccArena *mcc_arena_create(size_t capacity);
void mcc_arena_destroy(MccArena *arena);
