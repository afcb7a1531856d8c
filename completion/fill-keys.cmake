# cmake -DKEYS=config-keys.tsv -DIN=FILE.in -DOUT=FILE -P fill-keys.cmake:
# FILE.in with @PC_CONFIG_KEYS@ replaced by the key names, space-separated.
file(STRINGS ${KEYS} lines)
set(PC_CONFIG_KEYS "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE "\t.*$" "" name "${line}")
  string(APPEND PC_CONFIG_KEYS " ${name}")
endforeach()
string(STRIP "${PC_CONFIG_KEYS}" PC_CONFIG_KEYS)
configure_file(${IN} ${OUT} @ONLY)
