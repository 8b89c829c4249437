/*
** Whether closing a Lua 5.4 state would do anything besides freeing its memory
** (`runtime/state.rs`): when it would not, the state's arena frees everything in one go and
** `lua_close` (which frees object by object) is skipped.
**
** `lua_close` does three things: it closes the main thread's pending to-be-closed variables,
** runs the finalizers (`__gc`) of the objects marked for finalization, and frees every object.
** So closing only frees when the main thread has no pending to-be-closed variable and every
** object marked for finalization is one whose finalizer does nothing:
**
** - a file handle of the `io` library (metatable `registry["FILE*"]`, the size of a
**   `luaL_Stream`) that is closed, was never opened, or is one of the standard files (whose
**   finalizer calls `io_noclose`, which does nothing);
** - the `package` library's table of loaded C libraries (`registry["_CLIBS"]`) while it holds
**   none (its finalizer unloads each one).
**
** Any other object in those lists (a table or userdata with `__gc`, an open file whose buffer
** must be flushed, a loaded C library) makes the answer "close it".
**
** This reads the state and writes nothing, allocates nothing and raises nothing: it may run
** with any memory limit and outside a protected call. Compiled against the headers of the
** Lua 5.4 release the VM is built from (see `build.rs`).
*/

#include <stdio.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lobject.h"
#include "lstate.h"
#include "ltable.h"

/* The collectable value of the registry's field `name`, or NULL. */
static const GCObject *registry_field (global_State *g, const char *name) {
  Table *registry = hvalue(&g->l_registry);
  unsigned int i, size = sizenode(registry);
  for (i = 0; i < size; i++) {
    Node *n = gnode(registry, i);
    if (keyisshrstr(n) && strcmp(getstr(keystrval(n)), name) == 0)
      return iscollectable(gval(n)) ? gcvalue(gval(n)) : NULL;
  }
  return NULL;
}

/* Whether the finalizer of `o` would do nothing. */
static int finalizer_does_nothing (const GCObject *o, const GCObject *file_mt,
                                   const GCObject *clibs) {
  if (o == clibs)  /* it holds its libraries at 1, 2, ... */
    return isempty(luaH_getint(gco2t(clibs), 1));
  if (o->tt == LUA_VUSERDATA && file_mt != NULL) {
    Udata *u = gco2u(o);
    if (u->metatable != NULL && obj2gco(u->metatable) == file_mt &&
        u->len == sizeof(luaL_Stream)) {
      const luaL_Stream *p = (const luaL_Stream *)getudatamem(u);
      return p->closef == NULL || p->f == NULL ||
             p->f == stdin || p->f == stdout || p->f == stderr;
    }
  }
  return 0;
}

static int list_does_nothing (const GCObject *o, const GCObject *file_mt,
                              const GCObject *clibs) {
  for (; o != NULL; o = o->next)
    if (!finalizer_does_nothing(o, file_mt, clibs))
      return 0;
  return 1;
}

/* 1 when `lua_close(L)` would do more than free memory; `L` is the main thread. */
int pylua_close_has_work (lua_State *L) {
  global_State *g = G(L);
  const GCObject *file_mt, *clibs;
  if (L->tbclist.p != L->stack.p)
    return 1;
  if (g->finobj == NULL && g->tobefnz == NULL)
    return 0;
  file_mt = registry_field(g, LUA_FILEHANDLE);
  clibs = registry_field(g, "_CLIBS");
  if (clibs != NULL && clibs->tt != LUA_VTABLE)
    clibs = NULL;
  /* 'finobjsur', 'finobjold1' and 'finobjrold' point into the 'finobj' list. */
  return !(list_does_nothing(g->finobj, file_mt, clibs) &&
           list_does_nothing(g->tobefnz, file_mt, clibs));
}
