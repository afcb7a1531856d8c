# net/ discovery tests (label 'unit'): real UDP sockets on 127.0.0.1,
# several discovery instances on one libuv loop, each with its own store.
# Included from tests/CMakeLists.txt, so paths are relative to tests/.
if(NOT TARGET PkgConfig::CMOCKA)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/../net/discovery.c)
  add_executable(test_discovery
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_discovery.c)
  if(TARGET pc_test_helpers)
    target_link_libraries(test_discovery PRIVATE pc_test_helpers)
  else()
    target_sources(test_discovery PRIVATE
      ${CMAKE_CURRENT_SOURCE_DIR}/unit/helpers.c)
    target_include_directories(test_discovery PRIVATE
      ${CMAKE_CURRENT_SOURCE_DIR}/unit)
  endif()
  target_link_libraries(test_discovery
    PRIVATE pc_net PkgConfig::UV PkgConfig::CMOCKA)
  add_test(NAME test_discovery COMMAND test_discovery)
  set_tests_properties(test_discovery PROPERTIES LABELS unit TIMEOUT 300)
endif()
