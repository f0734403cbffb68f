# Use ccache when present. The sloppiness settings let precompiled headers hit the cache;
# CCACHE_BASEDIR makes paths relative to the checkout, so other checkouts of the same sources
# (git worktrees, a fresh clone) reuse each other's objects.
find_program(OB1Q_CCACHE ccache)
if(OB1Q_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}"
      ${OB1Q_CCACHE})
  message(STATUS "ob1q: using ccache (${OB1Q_CCACHE})")
endif()
