#include "go_asm.h"
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
	ADDQ $const_LineSize, AX
	SUBQ $const_LineSize, CX
	JMP  loop
done:
	RET
