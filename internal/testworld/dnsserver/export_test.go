package dnsserver

// ZoneReads is how many times the server has read a zone's records from Route53.
func (s *Server) ZoneReads() int64 { return s.zones.reads.Load() }
