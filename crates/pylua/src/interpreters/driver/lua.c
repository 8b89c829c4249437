/*
** pylua's standalone Lua interpreter: the `lua` command of the interpreters that
** `pylua lua install` builds from the bundled Lua 5.1-5.4 library sources, which do not
** include one. It behaves like the reference command for everything scripts and tools
** rely on:
**
**   lua [options] [script [args]]
**     -e chunk   run the string chunk
**     -l name    require library 'name' into global 'name' (also -l g=mod)
**     -i         enter interactive mode after the other options (implies -v)
**     -v         print version information
**     -E         ignore LUA_INIT (and, from 5.2 on, LUA_PATH and LUA_CPATH)
**     -W         turn warnings on (5.4)
**     --         stop handling options
**     -          run standard input as the script and stop handling options
**
** With no script and no -e, it is interactive when stdin is a terminal and runs stdin
** otherwise. The script sees its arguments as `...` and in the global table `arg`
** (arg[0] is the script, negative indices hold the interpreter and its options).
** LUA_INIT_5_x (or LUA_INIT) runs first: `@file` runs a file, anything else is a chunk.
**
** The same file compiles against the headers of every version from 5.1 to 5.4.
*/

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#ifndef LUA_OK
#define LUA_OK 0
#endif

#if LUA_VERSION_NUM >= 502
#define INIT_VERSIONED "LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR
#endif

#define HAS_ERROR 1
#define HAS_I 2
#define HAS_V 4
#define HAS_E 8
#define HAS_BIG_E 16

static const char *progname = "lua";
static lua_State *globalL = NULL;

/* A Ctrl-C while Lua runs: stop at the next instruction with an error. */
static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void laction(int sig) {
  signal(sig, SIG_DFL);
  lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void print_usage(const char *badoption) {
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "%s: '%s' needs argument\n", progname, badoption);
  else
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
  fprintf(stderr,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables\n"
          "  -W        turn warnings on\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n",
          progname);
}

static void message(const char *pname, const char *msg) {
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* Prints the error on top of the stack (if any) and pops it. */
static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(error object is not a string)";
    message(progname, msg);
    lua_pop(L, 1);
  }
  return status;
}

/* Message handler: adds a traceback to string errors, describes the others. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
#if LUA_VERSION_NUM >= 502
  luaL_traceback(L, L, msg, 1);
#else
  lua_getglobal(L, "debug");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "traceback");
    if (lua_isfunction(L, -1)) {
      lua_pushstring(L, msg);
      lua_pushinteger(L, 2);
      lua_call(L, 2, 1);
      return 1;
    }
  }
  lua_pushstring(L, msg);
#endif
  return 1;
}

/* Calls the function below `narg` arguments with the message handler and Ctrl-C handling. */
static int docall(lua_State *L, int narg, int nres) {
  int status;
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  signal(SIGINT, laction);
  status = lua_pcall(L, narg, nres, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

static void print_version(void) {
#if LUA_VERSION_NUM == 501
  printf("%s  %s\n", LUA_RELEASE, LUA_COPYRIGHT);
#else
  printf("%s\n", LUA_COPYRIGHT);
#endif
  fflush(stdout);
}

/* arg = { [-n] = interpreter, ..., [0] = script, [1] = first argument, ... } */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
  int i;
  if (script == argc) script = 0; /* no script: the interpreter goes to index 0 */
  lua_createtable(L, argc - (script + 1), script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int dofile(lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfile(L, name));
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l name or -l global=module */
static int dolibrary(lua_State *L, char *spec) {
  int status;
  char *eq = strchr(spec, '=');
  const char *modname = spec;
  if (eq) {
    *eq = '\0';
    modname = eq + 1;
  }
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  status = docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, spec);
  if (eq) *eq = '=';
  return report(L, status);
}

static int handle_script(lua_State *L, char **argv, int argc, int script) {
  int status, i, n;
  const char *fname = argv[script];
  if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0)
    fname = NULL; /* standard input */
  status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    status = docall(L, n, LUA_MULTRET);
  }
  return report(L, status);
}

/* First pass over the options: which flags are there, and where the script is. */
static int collectargs(char **argv, int *first) {
  int args = 0;
  int i;
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args; /* the script */
    switch (argv[i][1]) {
      case '-':
        if (argv[i][2] != '\0') return HAS_ERROR;
        *first = i + 1;
        return args;
      case '\0':
        return args; /* '-' is the script: stdin */
      case 'E':
        if (argv[i][2] != '\0') return HAS_ERROR;
        args |= HAS_BIG_E;
        break;
      case 'W':
        if (argv[i][2] != '\0') return HAS_ERROR;
        break;
      case 'i':
        args |= HAS_I; /* falls through: -i implies -v */
        /* FALLTHROUGH */
      case 'v':
        if (argv[i][2] != '\0') return HAS_ERROR;
        args |= HAS_V;
        break;
      case 'e':
        args |= HAS_E;
        /* FALLTHROUGH */
      case 'l':
        if (argv[i][2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') return HAS_ERROR;
        }
        break;
      default:
        return HAS_ERROR;
    }
  }
  *first = i;
  return args;
}

/* Second pass: run -e and -l in order (and -W). */
static int runargs(lua_State *L, char **argv, int n) {
  int i;
  for (i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      char *extra = argv[i] + 2;
      int status;
      if (*extra == '\0') extra = argv[++i];
      status = (option == 'e') ? dostring(L, extra, "=(command line)")
                               : dolibrary(L, extra);
      if (status != LUA_OK) return 0;
    } else if (option == 'W') {
#if LUA_VERSION_NUM >= 504
      lua_warning(L, "@on", 0);
#endif
    }
  }
  return 1;
}

static int handle_luainit(lua_State *L) {
  const char *name = "=LUA_INIT";
  const char *init = NULL;
#ifdef INIT_VERSIONED
  init = getenv(INIT_VERSIONED);
  if (init != NULL) name = "=" INIT_VERSIONED;
#endif
  if (init == NULL) init = getenv("LUA_INIT");
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  return dostring(L, init, name);
}

/* ---- interactive mode ---- */

static const char *get_prompt(lua_State *L, int firstline) {
  const char *p;
  lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2");
  p = lua_tostring(L, -1);
  if (p == NULL) p = firstline ? "> " : ">> ";
  lua_pop(L, 1); /* the string stays alive in the globals */
  return p;
}

/* True when a syntax error only means "more input needed"; pops it then. */
static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if ((len >= 5 && strcmp(msg + len - 5, "<eof>") == 0) ||
        (len >= 7 && strcmp(msg + len - 7, "'<eof>'") == 0)) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

/* Reads one line (any length) and pushes it without its newline; 0 at end of input. */
static int pushline(lua_State *L, int firstline) {
  char buf[512];
  int pieces = 0;
  size_t len;
  fputs(get_prompt(L, firstline), stdout);
  fflush(stdout);
  for (;;) {
    if (fgets(buf, sizeof buf, stdin) == NULL) {
      if (pieces == 0) return 0;
      break;
    }
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n') {
      buf[len - 1] = '\0';
      lua_pushstring(L, buf);
      pieces++;
      break;
    }
    lua_pushstring(L, buf);
    pieces++;
  }
  lua_concat(L, pieces);
  if (firstline) {
    const char *line = lua_tostring(L, -1);
    if (line[0] == '=') { /* the 5.1 shortcut '=expr' */
      lua_pushfstring(L, "return %s", line + 1);
      lua_remove(L, -2);
    }
  }
  return 1;
}

/* Tries the line as an expression: `return line`. Leaves a function on success. */
static int addreturn(lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
  if (status == LUA_OK)
    lua_remove(L, -2); /* the modified line */
  else
    lua_pop(L, 2); /* the error and the modified line */
  return status;
}

/* Reads more lines while the chunk is incomplete. Leaves a function or an error. */
static int multiline(lua_State *L) {
  for (;;) {
    size_t len;
    const char *line = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, line, len, "=stdin");
    if (!incomplete(L, status) || !pushline(L, 0)) return status;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

static int loadline(lua_State *L) {
  int status;
  lua_settop(L, 0);
  if (!pushline(L, 1)) return -1;
  if ((status = addreturn(L)) != LUA_OK) status = multiline(L);
  lua_remove(L, 1); /* the line */
  return status;
}

static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
      message(progname, lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
  }
}

static void doREPL(lua_State *L) {
  int status;
  const char *oldprogname = progname;
  progname = NULL;
  while ((status = loadline(L)) != -1) {
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK)
      print_results(L);
    else
      report(L, status);
  }
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
  progname = oldprogname;
}

/* ---- main ---- */

struct Args {
  int argc;
  char **argv;
};

static int pmain(lua_State *L) {
  struct Args *a = (struct Args *)lua_touserdata(L, 1);
  int argc = a->argc;
  char **argv = a->argv;
  int script = argc;
  int args = collectargs(argv, &script);
  lua_settop(L, 0);
  if (argv[0] && argv[0][0]) progname = argv[0];
  if (args == HAS_ERROR) {
    print_usage(argv[script]);
    return 0;
  }
  if (args & HAS_V) print_version();
#if LUA_VERSION_NUM >= 502
  if (args & HAS_BIG_E) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
#endif
  luaL_openlibs(L);
  createargtable(L, argv, argc, script);
#if LUA_VERSION_NUM >= 504
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
#endif
  if (!(args & HAS_BIG_E) && handle_luainit(L) != LUA_OK) return 0;
  if (!runargs(L, argv, script)) return 0;
  if (script < argc && handle_script(L, argv, argc, script) != LUA_OK) return 0;
  if (args & HAS_I) {
    doREPL(L);
  } else if (script == argc && !(args & (HAS_E | HAS_V))) {
    if (isatty(0)) {
      print_version();
      doREPL(L);
    } else {
      if (dofile(L, NULL) != LUA_OK) return 0;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  int status, result;
  struct Args a;
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    message(argv[0], "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  a.argc = argc;
  a.argv = argv;
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &a);
  status = lua_pcall(L, 1, 1, 0);
  result = lua_toboolean(L, -1);
  report(L, status);
  lua_close(L);
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
