package config

// RSS is the [rss] table: how flows map to lcores.
type RSS struct {
	// Key is "symmetric" (both directions of a flow hash alike, so an
	// lcore's active opens come home) or "microsoft" (the common default
	// key of NICs; answers to active opens are then steered).
	Key      string
	RETASize int // redirection table entries, a power of two
}

func (d *decoder) decodeRSS(c *Config, root table) {
	c.RSS = RSS{Key: "symmetric", RETASize: 128}
	t := root.sub("rss")
	t.known("key", "reta_size")
	t.str("key", &c.RSS.Key)
	t.integer("reta_size", &c.RSS.RETASize)
}

func (d *decoder) validateRSS(c *Config) {
	switch c.RSS.Key {
	case "symmetric", "microsoft":
	default:
		d.fail("rss.key", `expected "symmetric" or "microsoft", got %q`, c.RSS.Key)
	}
	if n := c.RSS.RETASize; n < 8 || n > 512 || !isPow2(n) {
		d.fail("rss.reta_size", "expected a power of two from 8 to 512, got %d", n)
	}
	if n := c.RSS.RETASize; n < len(c.EAL.Lcores) && !d.bad("eal.lcores") {
		d.fail("rss.reta_size", "%d entries cannot spread %d lcores", n, len(c.EAL.Lcores))
	}
}
