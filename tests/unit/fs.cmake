# Unit tests of fs/ (label 'unit'): what needs no mount.  Included from
# tests/CMakeLists.txt, so paths are relative to tests/.
if(NOT TARGET pc_fs OR NOT TARGET pc_test_helpers)
  return()
endif()
add_executable(test_fs_state unit/test_fs_state.c)
target_link_libraries(test_fs_state PRIVATE pc_test_helpers pc_fs)
add_test(NAME test_fs_state COMMAND test_fs_state)
set_tests_properties(test_fs_state PROPERTIES LABELS unit TIMEOUT 60)
add_executable(test_pt_table unit/test_pt_table.c)
target_link_libraries(test_pt_table PRIVATE pc_test_helpers pc_fs)
add_test(NAME test_pt_table COMMAND test_pt_table)
set_tests_properties(test_pt_table PROPERTIES LABELS unit TIMEOUT 60)
