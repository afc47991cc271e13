# cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -P EmbedBinary.cmake
# Writes a C++ source defining `extern "C" const unsigned char SYMBOL[]` and
# `SYMBOL_size` with INPUT's bytes (a fatbin the runtime hands the driver).
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR bytes "${length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," values "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n  " values "${values}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/EmbedBinary.cmake.\n#include <cstddef>\n"
  "extern \"C\" {\nextern const unsigned char ${SYMBOL}[];\nextern const size_t ${SYMBOL}_size;\n"
  "alignas(8) const unsigned char ${SYMBOL}[] = {\n  ${values}\n};\n"
  "const size_t ${SYMBOL}_size = ${bytes};\n}\n")
