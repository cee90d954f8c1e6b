# cmake -DIN=file -DOUT=file.c -DSYMBOL=name -P embed.cmake : embeds a file as a C string.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}" "/* Embedded from ${IN}. */\nconst char ${SYMBOL}[] = {${body}0x00};\n")
