# Unit tests of store/ (label 'unit'), one executable per test file.
# Included from tests/CMakeLists.txt, so paths are relative to tests/.
# The shared fixtures (test_store_util.c) make a small library; the
# assertion helpers come from unit/'s pc_test_helpers when it exists.
if(NOT TARGET pc_store)
  return()
endif()
if(NOT TARGET PkgConfig::CMOCKA)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()

set(PC_STORE_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/unit)
add_library(pc_test_store_util STATIC ${PC_STORE_TEST_DIR}/test_store_util.c)
if(TARGET pc_test_helpers)
  target_link_libraries(pc_test_store_util PUBLIC pc_test_helpers)
else()
  target_sources(pc_test_store_util PRIVATE ${PC_STORE_TEST_DIR}/helpers.c)
endif()
target_include_directories(pc_test_store_util PUBLIC ${PC_STORE_TEST_DIR})
target_link_libraries(pc_test_store_util
  PUBLIC pc_store PkgConfig::CMOCKA Threads::Threads)

foreach(name test_store_chunks test_store_tree test_store_concurrent
             test_store_commit test_store_walk test_store_held
             test_store_reopen)
  add_executable(${name} ${PC_STORE_TEST_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE pc_test_store_util)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()

# Several repositories in one store; it reads the index with LMDB itself
# to check the databases' names.
add_executable(test_store_repos ${PC_STORE_TEST_DIR}/test_store_repos.c)
target_link_libraries(test_store_repos
  PRIVATE pc_test_store_util PkgConfig::LMDB)
add_test(NAME test_store_repos COMMAND test_store_repos)
set_tests_properties(test_store_repos PROPERTIES LABELS unit TIMEOUT 120)

# Quota, purge, pins and verification; its full-disk tests mount a small
# tmpfs in a private mount namespace (root; skipped otherwise).
add_executable(test_store_purge ${PC_STORE_TEST_DIR}/test_store_purge.c)
target_link_libraries(test_store_purge PRIVATE pc_test_store_util)
add_test(NAME test_store_purge COMMAND test_store_purge)
set_tests_properties(test_store_purge PROPERTIES LABELS unit TIMEOUT 300)

# bench/purge.c (run by bench/purge.sh; prints figures, asserts nothing
# about time): built here, beside the store's tests, as build/bin/
# pc-bench-purge.
add_executable(pc-bench-purge ${PROJECT_SOURCE_DIR}/bench/purge.c)
target_link_libraries(pc-bench-purge PRIVATE pc_store Threads::Threads)
