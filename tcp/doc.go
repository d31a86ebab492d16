// Package tcp is pmd's TCP (RFC 9293 with RFC 7323, 2018, 6298, 5681,
// 6582, 6675, 5961, 6528, 4987): one Stack per lcore owns its connections,
// listeners and timing wheel; segments come in as header views and go out
// through an Output; time is always passed in. Plain Go, no allocation once
// connections are established.
package tcp
