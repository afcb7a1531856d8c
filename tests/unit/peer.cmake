# Unit tests of net/'s LAN peer services (label 'unit'): the source ACL
# (test_acl) and the HTTP peer server (test_peer_server: a real store, the
# server on loopback, libcurl clients).  Included from tests/CMakeLists.txt,
# so paths are relative to tests/.
if(NOT TARGET pc_net)
  return()
endif()
if(NOT TARGET PkgConfig::CMOCKA)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()

set(PC_PEER_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/unit)

# test_peer_server commits chunks with the store tests' fixtures.
if(NOT TARGET pc_test_store_util)
  add_library(pc_test_store_util STATIC
    ${PC_PEER_TEST_DIR}/test_store_util.c)
  target_include_directories(pc_test_store_util PUBLIC ${PC_PEER_TEST_DIR})
  target_link_libraries(pc_test_store_util
    PUBLIC pc_store PkgConfig::CMOCKA Threads::Threads)
  if(TARGET pc_test_helpers)
    target_link_libraries(pc_test_store_util PUBLIC pc_test_helpers)
  else()
    target_sources(pc_test_store_util PRIVATE ${PC_PEER_TEST_DIR}/helpers.c)
  endif()
endif()

add_executable(test_acl ${PC_PEER_TEST_DIR}/test_acl.c)
target_include_directories(test_acl PRIVATE ${PC_PEER_TEST_DIR})
if(TARGET pc_test_helpers)
  target_link_libraries(test_acl PRIVATE pc_test_helpers)
else()
  target_sources(test_acl PRIVATE ${PC_PEER_TEST_DIR}/helpers.c)
endif()
target_link_libraries(test_acl PRIVATE pc_net PkgConfig::CMOCKA)

add_executable(test_peer_server ${PC_PEER_TEST_DIR}/test_peer_server.c)
target_link_libraries(test_peer_server PRIVATE
  pc_test_store_util pc_net PkgConfig::CURL PkgConfig::CMOCKA
  Threads::Threads)

# test_mirror_index: the objects a site node may pull through
# (net/mirror_index.c), from a real store's trees.
add_executable(test_mirror_index ${PC_PEER_TEST_DIR}/test_mirror_index.c)
target_link_libraries(test_mirror_index PRIVATE
  pc_test_store_util pc_net PkgConfig::CMOCKA)

foreach(name test_acl test_peer_server test_mirror_index)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300)
endforeach()
