package web

import (
	"fmt"
	"testing"
)

// TestComputersListShapes: GET /api/v1/computers answers ImmyBot's bare array when the caller
// asks for no page (scripts written for ImmyBot index it directly: computerId = $_.id), and
// psbridge's {items, nextCursor} page with limit or cursor.
func TestComputersListShapes(t *testing.T) {
	s := newServer(t, nil)
	var tenant struct{ ID int64 }
	s.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "Contoso"}, &tenant)
	for i := 1; i <= 3; i++ {
		s.must(201, "POST", "/api/v1/computers", map[string]any{"name": fmt.Sprintf("PC-%d", i), "tenantId": tenant.ID}, nil)
	}
	type computer struct {
		ID           int64  `json:"id"`
		ComputerID   int64  `json:"computerId"`
		ComputerName string `json:"computerName"`
		TenantID     int64  `json:"tenantId"`
	}
	var all []computer
	s.must(200, "GET", "/api/v1/computers", nil, &all)
	if len(all) != 3 {
		t.Fatalf("bare list: %+v", all)
	}
	for i, c := range all {
		if c.ID == 0 || c.ComputerID != c.ID || c.ComputerName != fmt.Sprintf("PC-%d", i+1) || c.TenantID != tenant.ID {
			t.Errorf("computer %d: %+v", i, c)
		}
	}
	var filtered []computer
	s.must(200, "GET", fmt.Sprintf("/api/v1/computers?tenantId=%d", tenant.ID), nil, &filtered)
	if len(filtered) != 3 {
		t.Errorf("bare list of the tenant: %+v", filtered)
	}

	var page struct {
		Items      []computer `json:"items"`
		NextCursor string     `json:"nextCursor"`
	}
	s.must(200, "GET", "/api/v1/computers?limit=2", nil, &page)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("first page: %+v", page)
	}
	cursor := page.NextCursor
	page.Items, page.NextCursor = nil, ""
	s.must(200, "GET", "/api/v1/computers?cursor="+cursor, nil, &page)
	if len(page.Items) != 1 || page.Items[0].ComputerName != "PC-3" || page.NextCursor != "" {
		t.Fatalf("second page: %+v", page)
	}
}
