package clock

const hasTSC = true

// rdtsc returns the CPU's time-stamp counter.
func rdtsc() uint64
