package sim

import "net/http"

func (s *Sim) costQuery(w http.ResponseWriter, r *http.Request) {
	armError(w, http.StatusNotImplemented, "NotImplemented", "not yet")
}

func (s *Sim) servePrices(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not yet", http.StatusNotImplemented)
}
