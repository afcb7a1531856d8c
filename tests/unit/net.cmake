# net/ component tests (label 'unit'): real nginx on loopback, a
# repository made by the real peercache-publish, a real store.  Included
# from tests/CMakeLists.txt, so paths are relative to tests/.
if(NOT TARGET PkgConfig::CMOCKA)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
find_program(PC_NGINX nginx PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(PC_NET_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/unit)
add_library(pc_test_net_harness STATIC
  ${PC_NET_TEST_DIR}/test_net_harness.c)
if(TARGET pc_test_helpers)
  target_link_libraries(pc_test_net_harness PUBLIC pc_test_helpers)
else()
  target_sources(pc_test_net_harness PRIVATE ${PC_NET_TEST_DIR}/helpers.c)
endif()
target_include_directories(pc_test_net_harness PUBLIC ${PC_NET_TEST_DIR})
target_compile_definitions(pc_test_net_harness PRIVATE
  PC_PUBLISH_BIN="$<TARGET_FILE:peercache-publish>"
  PC_NGINX_BIN="${PC_NGINX}")
target_link_libraries(pc_test_net_harness
  PUBLIC pc_net PkgConfig::CMOCKA Threads::Threads)
add_dependencies(pc_test_net_harness peercache-publish)

foreach(name test_net_fetch test_net_head test_net_control test_net_pipeline
             test_net_repos)
  if(EXISTS ${PC_NET_TEST_DIR}/${name}.c)
    add_executable(${name} ${PC_NET_TEST_DIR}/${name}.c)
    target_link_libraries(${name} PRIVATE pc_test_net_harness)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300)
  endif()
endforeach()

# peercachectl -r NAME against a net of two repositories.
if(TARGET test_net_repos)
  target_compile_definitions(test_net_repos PRIVATE
    PC_CTL_BIN="$<TARGET_FILE:peercachectl>")
  add_dependencies(test_net_repos peercachectl)
endif()

# The daemon's head poll and peercachectl check judge the same heads.
add_executable(test_head_judges ${PC_NET_TEST_DIR}/test_head_judges.c)
target_link_libraries(test_head_judges PRIVATE pc_test_net_harness)
target_compile_definitions(test_head_judges PRIVATE
  PC_CTL_BIN="$<TARGET_FILE:peercachectl>")
add_dependencies(test_head_judges peercachectl)
add_test(NAME test_head_judges COMMAND test_head_judges)
set_tests_properties(test_head_judges PROPERTIES LABELS unit TIMEOUT 300)
