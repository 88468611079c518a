# Writes OUTPUT with the git revision of SOURCE_DIR (or "unknown"), only when it changed, so
# an unchanged revision rebuilds nothing. Run by the fleetps_revision target at build time.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT revision)
  set(revision unknown)
endif()
set(content "#pragma once\n#define FLEETPS_VERSION \"${VERSION}\"\n#define FLEETPS_REVISION \"${revision}\"\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE ${OUTPUT} "${content}")
endif()
