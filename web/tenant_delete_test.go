package web

import (
	"fmt"
	"testing"
)

// TestDeleteTenantDeployments deletes tenants through the API: a tenant without computers goes
// with the deployments that target it (and no others); a tenant that still has a computer is
// refused with 409 and keeps its deployments, since both happen in one transaction.
func TestDeleteTenantDeployments(t *testing.T) {
	s := newServer(t, lazyPool(t))
	var gone, kept, busy, x, y, pc struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Gone"}, &gone)
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Kept"}, &kept)
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Busy"}, &busy)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool X", "2.0", "x.txt"), &x)
	s.must(201, "POST", "/api/v1/software", fileSoftware("Tool Y", "1.0", "y.txt"), &y)
	s.must(201, "POST", "/api/v1/computers", map[string]any{"name": "PC-1", "tenantId": busy.ID}, &pc)
	deploy := func(body map[string]any) int64 {
		var d struct{ ID int64 }
		s.must(201, "POST", "/api/v1/deployments", body, &d)
		return d.ID
	}
	goneX := deploy(map[string]any{"softwareId": x.ID, "tenantId": gone.ID, "desiredSoftwareState": 5})
	goneY := deploy(map[string]any{"softwareId": y.ID, "tenantId": gone.ID, "desiredSoftwareState": 1})
	keptX := deploy(map[string]any{"softwareId": x.ID, "tenantId": kept.ID, "desiredSoftwareState": 5})
	busyX := deploy(map[string]any{"softwareId": x.ID, "tenantId": busy.ID, "desiredSoftwareState": 5})
	pcY := deploy(map[string]any{"softwareId": y.ID, "computerId": pc.ID, "desiredSoftwareState": 6})

	for _, tc := range []struct {
		name    string
		tenant  int64
		status  int
		deleted []int64
		left    []int64
	}{
		{"tenant with a computer", busy.ID, 409, nil, []int64{goneX, goneY, keptX, busyX, pcY}},
		{"tenant without computers", gone.ID, 204, []int64{goneX, goneY}, []int64{keptX, busyX, pcY}},
		{"already deleted", gone.ID, 404, []int64{goneX, goneY}, []int64{keptX, busyX, pcY}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := s.do("DELETE", fmt.Sprintf("/api/v1/tenants/%d", tc.tenant), nil); r.status != tc.status {
				t.Fatalf("DELETE tenant %d: %d %s, want %d", tc.tenant, r.status, r.body, tc.status)
			}
			for want, ids := range map[int][]int64{404: tc.deleted, 200: tc.left} {
				for _, id := range ids {
					if r := s.do("GET", fmt.Sprintf("/api/v1/deployments/%d", id), nil); r.status != want {
						t.Errorf("deployment %d: %d, want %d", id, r.status, want)
					}
				}
			}
			if n := len(s.all("/api/v1/deployments", 2)); n != len(tc.left) {
				t.Fatalf("%d deployments listed, want %d", n, len(tc.left))
			}
		})
	}
}
