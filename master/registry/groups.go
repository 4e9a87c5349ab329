package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/msx-project/msx/bus"
)

// Groups returns every group ordered by name.
func (r *Registry) Groups() []Group {
	r.mu.RLock()
	out := make([]Group, 0, len(r.groups))
	for _, g := range r.groups {
		out = append(out, g)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(strings.ToUpper(a.Name), strings.ToUpper(b.Name)) })
	return out
}

// Group returns a group by name, case-insensitively.
func (r *Registry) Group(name string) (Group, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	g, ok := r.groups[strings.ToUpper(strings.TrimSpace(name))]
	return g, ok
}

// AddGroup creates an empty group.
func (r *Registry) AddGroup(ctx context.Context, name string) (Group, error) {
	name = strings.TrimSpace(name)
	if err := checkGroupName(name); err != nil {
		return Group{}, err
	}
	r.groupMu.Lock()
	defer r.groupMu.Unlock()
	if _, ok := r.Group(name); ok {
		return Group{}, fmt.Errorf("%w ('%s')", ErrGroupExists, name)
	}
	g := Group{Name: name, Members: []string{}}
	rev, err := put(ctx, r.groupsFence, bus.BucketGroups, name, g)
	if err != nil {
		return Group{}, err
	}
	r.stored(g, rev)
	return g, nil
}

// stored records group g written at revision rev, unless the watch has applied a later write
// of it meanwhile.
func (r *Registry) stored(g Group, rev uint64) {
	r.mu.Lock()
	r.gen.Add(1) // see Generation
	defer r.mu.Unlock()
	if k := bus.BucketGroups + "/" + key(g.Name); rev < r.revs[k] {
		return
	}
	r.seen(bus.BucketGroups, key(g.Name), rev)
	r.groups[strings.ToUpper(g.Name)] = g
}

// DeleteGroup deletes a group (its members stay enlisted).
func (r *Registry) DeleteGroup(ctx context.Context, name string) error {
	r.groupMu.Lock()
	defer r.groupMu.Unlock()
	k := strings.ToUpper(strings.TrimSpace(name))
	if _, ok := r.Group(k); !ok {
		return fmt.Errorf("%w ('%s')", ErrUnknownGroup, name)
	}
	if err := r.groupsFence.KVDelete(ctx, key(k)); err != nil {
		return fmt.Errorf("delete group %s: %w", name, err)
	}
	r.mu.Lock()
	r.gen.Add(1) // see Generation
	delete(r.groups, k)
	r.mu.Unlock()
	return nil
}

// AddMember adds a target to a group.
func (r *Registry) AddMember(ctx context.Context, group, server string) (Group, error) {
	server = strings.ToUpper(strings.TrimSpace(server))
	if _, ok := r.Target(server); !ok {
		return Group{}, fmt.Errorf("%w ('%s')", ErrUnknownTarget, server)
	}
	return r.editGroup(ctx, group, func(g *Group) error {
		if slices.Contains(g.Members, server) {
			return fmt.Errorf("%w: '%s' is already a member of '%s'", ErrAlreadyMember, server, g.Name)
		}
		g.Members = append(g.Members, server)
		slices.Sort(g.Members)
		return nil
	})
}

// RemoveMember removes a target from a group.
func (r *Registry) RemoveMember(ctx context.Context, group, server string) error {
	server = strings.ToUpper(strings.TrimSpace(server))
	_, err := r.editGroup(ctx, group, func(g *Group) error {
		i := slices.Index(g.Members, server)
		if i < 0 {
			return fmt.Errorf("%w: '%s' is not a member of '%s'", ErrNotMember, server, g.Name)
		}
		g.Members = slices.Delete(g.Members, i, i+1)
		return nil
	})
	return err
}

// editGroup reads, edits and writes a group. groupMu serialises group edits across the write;
// mu, which readers take, is held only to read and to record the result.
func (r *Registry) editGroup(ctx context.Context, name string, edit func(*Group) error) (Group, error) {
	r.groupMu.Lock()
	defer r.groupMu.Unlock()
	g, ok := r.Group(name)
	if !ok {
		return Group{}, fmt.Errorf("%w ('%s')", ErrUnknownGroup, name)
	}
	g.Members = slices.Clone(g.Members)
	if err := edit(&g); err != nil {
		return Group{}, err
	}
	rev, err := put(ctx, r.groupsFence, bus.BucketGroups, g.Name, g)
	if err != nil {
		return Group{}, err
	}
	r.stored(g, rev)
	return g, nil
}

// GroupsOf returns the names of the groups a server belongs to.
func (r *Registry) GroupsOf(server string) []string {
	server = strings.ToUpper(server)
	var out []string
	r.mu.RLock()
	for _, g := range r.groups {
		if _, found := slices.BinarySearch(g.Members, server); found {
			out = append(out, g.Name)
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToUpper(a), strings.ToUpper(b)) })
	return out
}
