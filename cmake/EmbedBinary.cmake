# cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -P EmbedBinary.cmake
# Writes a C++ source defining `extern "C" const unsigned char SYMBOL[]` with
# INPUT's bytes (a fatbin the runtime hands the driver, which reads its size
# from its header).
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," values "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n  " values "${values}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/EmbedBinary.cmake.\n"
  "extern \"C\" {\nextern const unsigned char ${SYMBOL}[];\n"
  "alignas(8) const unsigned char ${SYMBOL}[] = {\n  ${values}\n};\n}\n")
