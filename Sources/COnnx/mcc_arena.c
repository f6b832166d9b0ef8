#include "mcc_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

static void *arena_alloc(void *data, size_t size) {
    MccArena *arena = data;
    size_t start = (arena->used + 15) & ~(size_t)15;
    if (start <= arena->capacity && size <= arena->capacity - start) {
        arena->used = start + size;
        return arena->base + start;
    }
    return malloc(size);
}

static void arena_free(void *data, void *pointer) {
    MccArena *arena = data;
    unsigned char *p = pointer;
    if (p >= arena->base && p < arena->base + arena->capacity) return;
    free(pointer);
}

MccArena *mcc_arena_create(size_t capacity) {
    MccArena *arena = malloc(sizeof(MccArena));
    if (!arena) return NULL;
    void *base = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (base == MAP_FAILED) {
        free(arena);
        return NULL;
    }
    arena->allocator.alloc = arena_alloc;
    arena->allocator.free = arena_free;
    arena->allocator.allocator_data = arena;
    arena->base = base;
    arena->capacity = capacity;
    arena->used = 0;
    return arena;
}

void mcc_arena_destroy(MccArena *arena) {
    if (!arena) return;
    munmap(arena->base, arena->capacity);
    free(arena);
}
