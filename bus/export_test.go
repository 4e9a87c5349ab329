package bus

// AuthAccounts returns the accounts the server's Auth holds (tests).
func (s *Server) AuthAccounts() []string {
	if s.auth == nil {
		return nil
	}
	return s.auth.names()
}
