# Helpers shared by every module: one library per module, a compile check of each public header on
# its own, unit tests discovered from *_test.cc files, and fuzz targets from *_fuzz.cc files.
#
# Sources are globbed per folder (CONFIGURE_DEPENDS) so that adding a file to a module needs no
# CMake edit; a module's folder is its unit of ownership.

set(BRAID_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wimplicit-fallthrough -Wnon-virtual-dtor
    -Wmissing-declarations)
if(BRAID_WERROR)
  list(APPEND BRAID_WARNINGS -Werror)
endif()

# braid_add_header_check(<target> HEADERS <files>... [LIBS <targets>...])
# <target>_header_check compiles each header alone, included from the repository root as
# "<folder>/<name>.h" (Seastar's header check): a header that does not include what it uses
# fails the build. Only with BRAID_HEADER_CHECK (the release build).
function(braid_add_header_check target)
  cmake_parse_arguments(ARG "" "" "HEADERS;LIBS" ${ARGN})
  if(NOT BRAID_HEADER_CHECK OR NOT ARG_HEADERS)
    return()
  endif()
  set(check_srcs "")
  foreach(h ${ARG_HEADERS})
    file(RELATIVE_PATH rel "${PROJECT_SOURCE_DIR}" "${h}")
    string(MAKE_C_IDENTIFIER "${rel}" id)
    set(cc "${CMAKE_BINARY_DIR}/header_check/${id}.cc")
    file(CONFIGURE OUTPUT "${cc}" CONTENT "#include \"${rel}\"  // must compile on its own\n")
    list(APPEND check_srcs "${cc}")
  endforeach()
  add_library(${target}_header_check OBJECT ${check_srcs})
  target_compile_options(${target}_header_check PRIVATE ${BRAID_WARNINGS})
  target_include_directories(${target}_header_check PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${target}_header_check PRIVATE ${ARG_LIBS})
endfunction()

# braid_add_library(<target> DIR <folder> [DEPS <targets>...])
# Builds every *.cc in <folder> into a static library whose headers are included as
# "<folder>/<name>.h" from the repository root. Adds <target>_header_check, which compiles each
# header of the folder alone (Seastar's header check): a header that does not include what it
# uses fails the build.
function(braid_add_library target)
  cmake_parse_arguments(ARG "" "DIR" "DEPS;SUBDIRS" ${ARGN})
  set(srcs "")
  set(hdrs "")
  foreach(dir "${ARG_DIR}" ${ARG_SUBDIRS})
    if(NOT dir STREQUAL ARG_DIR)
      set(dir "${ARG_DIR}/${dir}")
    endif()
    file(GLOB dir_srcs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${dir}/*.cc")
    file(GLOB dir_hdrs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${dir}/*.h")
    list(APPEND srcs ${dir_srcs})
    list(APPEND hdrs ${dir_hdrs})
  endforeach()
  if(srcs)
    add_library(${target} STATIC ${srcs} ${hdrs})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_compile_options(${target} PRIVATE ${BRAID_WARNINGS})
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
  else()
    # A module that is headers only so far.
    add_library(${target} INTERFACE ${hdrs})
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()

  braid_add_header_check(${target} HEADERS ${hdrs} LIBS ${target})
endfunction()

# braid_add_unit_tests(DIR <folder> LIBS <targets>... [LABELS <labels>...])
# Every <folder>/*_test.cc becomes one GoogleTest executable; each test case is a CTest test
# carrying the labels (default: unit).
function(braid_add_unit_tests)
  cmake_parse_arguments(ARG "" "DIR" "LIBS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  file(GLOB tests CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/${ARG_DIR}/*_test.cc")
  foreach(src ${tests})
    get_filename_component(name "${src}" NAME_WE)
    add_executable(${name} "${src}")
    target_compile_options(${name} PRIVATE ${BRAID_WARNINGS})
    target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest_main)
    target_compile_definitions(${name} PRIVATE
        BRAID_SOURCE_DIR="${PROJECT_SOURCE_DIR}" BRAID_BINARY_DIR="${CMAKE_BINARY_DIR}")
    gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST)
    # PROPERTIES LABELS "a;b" is split by gtest_discover_tests (CMake 3.25): only "a" survives.
    # Set the labels from a script that runs after discovery instead.
    set(labels_script "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
    file(WRITE "${labels_script}"
         "foreach(t IN LISTS ${name}_TESTS)\n"
         "  set_tests_properties(\"\${t}\" PROPERTIES LABELS \"${ARG_LABELS}\")\n"
         "endforeach()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_script}")
  endforeach()
endfunction()

# braid_add_fuzzer(<name> SRC <file> LIBS <targets>... CORPUS <folder>)
# With BRAID_FUZZ (clang): a libFuzzer binary. Otherwise: the same entry point linked with a
# replay driver, registered as a CTest test (label fuzz) that runs every seed of the corpus, so
# the seeds stay green in every build, including asan+ubsan.
function(braid_add_fuzzer name)
  cmake_parse_arguments(ARG "" "SRC;CORPUS" "LIBS" ${ARGN})
  add_executable(${name} "${ARG_SRC}")
  target_compile_options(${name} PRIVATE ${BRAID_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
  if(BRAID_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_link_libraries(${name} PRIVATE braid_fuzz_replay)
  endif()
  add_test(NAME fuzz.${name}.seeds COMMAND ${name} "${ARG_CORPUS}")
  set_tests_properties(fuzz.${name}.seeds PROPERTIES LABELS fuzz)
  set_property(GLOBAL APPEND PROPERTY BRAID_FUZZERS "${name}=${ARG_CORPUS}")
endfunction()
