package engine

// App runs on an lcore's own thread: Start once before the first poll,
// then Poll after every iteration.
type App interface {
	Start(l *Lcore, now int64)
	Poll(l *Lcore, now int64)
}
