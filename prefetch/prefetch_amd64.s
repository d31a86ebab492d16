#include "textflag.h"

// func write(p unsafe.Pointer, n int)
TEXT ·write(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
loop:
	CMPQ CX, $0
	JLE  done
	// PREFETCHW (AX): 0F 0D /1, which Go's assembler has no name for.
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08
	ADDQ $64, AX // LineSize
	SUBQ $64, CX
	JMP  loop
done:
	RET
