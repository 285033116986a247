package psmodule_test

import (
	"context"
	"testing"
	"time"

	"github.com/psbridge/psbridge/bridge"
)

// TestWarmUpDataBlockRunsClean runs the block a worker's warm-up runs in its spare runspace
// (Worker.WarmUpDataBlock, read from the compiled host) in a worker: it must produce its
// agents and client without any error record, since an error would stay in the $Error of the
// runspace an integration then takes.
func TestWarmUpDataBlockRunsClean(t *testing.T) {
	p := compatPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := p.Exec(ctx, bridge.Exec{Name: "warmup.ps1", Text: `
$field = [PSBridge.Host.Worker].GetField('WarmUpDataBlock', [System.Reflection.BindingFlags]'NonPublic, Static')
if ($null -eq $field) { throw 'Worker.WarmUpDataBlock not found' }
$Error.Clear()
$out = @(& ([scriptblock]::Create($field.GetValue($null))))
foreach ($o in $out) { '{0} {1} {2} {3}' -f $o.GetType().Name, $o.Name, $o.ClientId, $(if ($o -is [PSBridge.IntegrationAgent]) { $o.AgentVersion } else { $o.ClientName }) }
"errors=$($Error.Count)"
`})
	if err != nil {
		t.Fatalf("%v%s", err, scriptErrorDetail(err))
	}
	if r.HadErrors {
		t.Fatalf("the warm-up block wrote errors: %v", r.Records)
	}
	wantTexts(t, r, "IntegrationAgent PC-1 7 22.3", "IntegrationAgent PC-2 7 23.1.2.400", "IntegrationClient  7 Site", "errors=0")
}
